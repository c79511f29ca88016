"""The autoencoder module: shapes, mirrored decoder, activations, initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dask_anomaly.model import LEAKY_SLOPE, Autoencoder, default_architecture


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
    net = Autoencoder(6, (8,), 3)
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 2 and all(a.negative_slope == LEAKY_SLOPE for a in acts)
    assert isinstance(net.encoder[-1], nn.Linear) and isinstance(net.decoder[-1], nn.Linear)


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
def test_default_architecture_narrows_to_a_smaller_code(n_features: int) -> None:
    hidden, bottleneck = default_architecture(n_features)
    assert len(hidden) == 2 and hidden[0] >= hidden[1] >= bottleneck >= 1
    if n_features > 1:
        assert bottleneck < n_features
