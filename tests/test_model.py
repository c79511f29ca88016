"""The autoencoder module: shapes, mirrored decoder, activations, initialisation."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

from dask_anomaly.model import (
    BOTTLENECK_WIDTH,
    LEAKY_SLOPE,
    Activation,
    Autoencoder,
    aligned_copy,
    default_architecture,
)

from .conftest import ensemble_member


def test_shapes_and_mirrored_decoder() -> None:
    net = Autoencoder(10, (16, 12), 4)
    assert net.layer_widths == [10, 16, 12, 4, 12, 16, 10]
    enc = [m for m in net.encoder if isinstance(m, nn.Linear)]
    dec = [m for m in net.decoder if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in enc] == [(10, 16), (16, 12), (12, 4)]
    assert [(m.in_features, m.out_features) for m in dec] == [(4, 12), (12, 16), (16, 10)]
    assert net(torch.zeros(5, 10)).shape == (5, 10)
    assert net.n_parameters() == sum(p.numel() for p in net.parameters())


def test_leaky_relu_between_layers_linear_code_and_output() -> None:
    net = Autoencoder(6, (8,), 3).eval()
    acts = [m for m in net.modules() if isinstance(m, Activation)]
    assert len(acts) == 2
    x = torch.linspace(-3, 3, 8).reshape(1, 8)
    assert torch.equal(acts[0](x), nn.functional.leaky_relu(x, LEAKY_SLOPE))
    assert isinstance(net.encoder[-1], nn.Linear) and isinstance(net.decoder[-1], nn.Linear)


def test_dropout_masks_come_from_the_given_generator_only() -> None:
    net = Autoencoder(6, (64,), 32, dropout=0.25, generator=torch.Generator().manual_seed(0))
    x = torch.ones(200, 6)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    outs = []
    for _ in range(2):
        net.set_dropout_generator(torch.Generator().manual_seed(7))
        outs.append(net.train()(x))
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is untouched
    assert torch.equal(outs[0], outs[1])  # same generator seed, same masks
    hidden = net.encoder[1](net.encoder[0](x))
    assert 0.2 < (hidden == 0).float().mean() < 0.3  # about a quarter of the units dropped
    net.set_dropout_generator(None)
    with pytest.raises(RuntimeError, match="set_dropout_generator"):
        net(x)
    assert torch.equal(net.eval()(x), net(x))  # evaluation: no dropout, deterministic


def test_dropout_changes_no_weight_names_and_is_absent_from_inference() -> None:
    plain = Autoencoder(5, (8,), 3, generator=torch.Generator().manual_seed(1))
    dropped = Autoencoder(5, (8,), 3, generator=torch.Generator().manual_seed(1), dropout=0.5)
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(plain.eval()(x), dropped.eval()(x))
    copy = aligned_copy(dropped.train())
    assert not any(isinstance(m, Activation) for m in copy)  # plain LeakyReLU, nothing shared
    assert dropped.training  # the copy did not switch the trained network to eval


def test_dropout_generator_is_not_pickled() -> None:
    net = Autoencoder(4, (8,), 2, dropout=0.1)
    net.set_dropout_generator(torch.Generator().manual_seed(0))
    clone = pickle.loads(pickle.dumps(net))
    assert all(m.generator is None for m in clone.modules() if isinstance(m, Activation))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        Autoencoder(4, (8,), 2, dropout=1.0)


def test_xavier_uniform_initialisation_and_zero_bias() -> None:
    net = Autoencoder(50, (200,), 20, generator=torch.Generator().manual_seed(0))
    for layer in (m for m in net.modules() if isinstance(m, nn.Linear)):
        bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound  # uniform fills the range
        assert torch.count_nonzero(layer.bias) == 0


def test_initialisation_is_seeded_by_the_generator() -> None:
    a = Autoencoder(5, (4,), 2, generator=torch.Generator().manual_seed(3))
    b = Autoencoder(5, (4,), 2, generator=torch.Generator().manual_seed(3))
    c = Autoencoder(5, (4,), 2, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=False))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=False))


@pytest.mark.parametrize("n_features", [1, 2, 3, 8, 32, 64, 500])
def test_default_architecture_widens_with_the_input_and_keeps_a_fixed_code(
    n_features: int,
) -> None:
    hidden, bottleneck = default_architecture(n_features)
    assert len(hidden) == 2 and hidden[0] == 2 * hidden[1]
    assert 64 <= hidden[0] <= 256 and hidden[0] >= min(2 * n_features, 256)
    assert hidden[1] >= bottleneck == BOTTLENECK_WIDTH


def test_ensemble_members_are_independent_blocks_of_one_network() -> None:
    trio = Autoencoder(5, (12, 8), 3, generator=torch.Generator().manual_seed(0), n_members=3)
    assert trio.member_widths == [5, 12, 8, 3, 8, 12, 5]
    assert trio.layer_widths == [5, 36, 24, 9, 24, 36, 15]
    single = Autoencoder(5, (12, 8), 3)
    assert trio.n_parameters() == 3 * single.n_parameters()
    members = [ensemble_member(trio.eval(), k) for k in range(3)]
    x = torch.randn(50, 5)
    with torch.no_grad():
        out = trio(x)
        for k, member in enumerate(members):  # output block k is member k's reconstruction
            torch.testing.assert_close(out[:, 5 * k : 5 * (k + 1)], member(x))
    first = [next(m.parameters()) for m in members]
    assert not torch.equal(first[0], first[1])  # each member starts from its own weights
    assert torch.equal(trio.targets(x), torch.cat([x, x, x], dim=1))


def test_training_keeps_the_weights_between_members_at_zero() -> None:
    trio = Autoencoder(4, (16,), 2, generator=torch.Generator().manual_seed(1), n_members=2)
    trio.set_dropout_generator(torch.Generator().manual_seed(2))
    zero_before = [m.weight == 0 for m in trio.modules() if isinstance(m, nn.Linear)]
    optimizer = torch.optim.Adam(trio.parameters(), lr=1e-2)
    x = torch.randn(64, 4)
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.mse_loss(trio(x), trio.targets(x)).backward()
        optimizer.step()
    linears = [m for m in trio.modules() if isinstance(m, nn.Linear)]
    for layer, was_zero in zip(linears[1:], zero_before[1:], strict=True):
        assert was_zero.any() and (layer.weight[was_zero] == 0).all()
    # the batched forward pass equals the block-diagonal matrices that scoring uses
    with torch.no_grad():
        torch.testing.assert_close(trio.eval()(x), trio.decoder(trio.encoder(x)))
    # member 1's loss does not reach member 0's weights
    trio.zero_grad()
    trio.eval()(x)[:, 4:].square().sum().backward()
    assert linears[0].weight.grad[:16].abs().max() == 0
    assert linears[0].weight.grad[16:].abs().max() > 0


def test_n_members_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n_members"):
        Autoencoder(4, (8,), 2, n_members=0)
