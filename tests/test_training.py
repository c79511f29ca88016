"""The training loop: learning, seeding, divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dask_anomaly import TrainingDivergedError
from dask_anomaly.model import Autoencoder
from dask_anomaly.training import make_loader, resolve_device, train_autoencoder


def structured(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    return (z @ rng.normal(size=(2, 6)) + 0.05 * rng.normal(size=(n, 6))).astype(np.float32)


PARAMS = {"hidden_layers": (16, 8), "bottleneck": 2, "batch_size": 64, "learning_rate": 3e-3}


def test_loss_falls_on_structured_data() -> None:
    _, history = train_autoencoder(structured(), epochs=10, random_state=0, **PARAMS)
    assert len(history) == 10
    assert history[-1] < 0.25 * history[0]


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_same_seed_same_model_and_history(dropout: float) -> None:
    X = structured()
    a, ha = train_autoencoder(X, epochs=3, random_state=7, dropout=dropout, **PARAMS)
    b, hb = train_autoencoder(X, epochs=3, random_state=7, dropout=dropout, **PARAMS)
    c, hc = train_autoencoder(X, epochs=3, random_state=8, dropout=dropout, **PARAMS)
    assert ha == hb and ha != hc
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=False))
    assert not a.training  # returned in eval mode


def test_training_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    train_autoencoder(structured(200), epochs=1, random_state=0, dropout=0.2, **PARAMS)
    assert torch.equal(torch.rand(1), before)


def test_loader_batches_and_seeded_order() -> None:
    X = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    batches = [b[0] for b in make_loader(X, batch_size=4, seed=1)]
    assert [len(b) for b in batches] == [4, 4, 2]
    again = [b[0] for b in make_loader(X, batch_size=4, seed=1)]
    assert all(torch.equal(p, q) for p, q in zip(batches, again, strict=False))
    assert sorted(torch.cat(batches).flatten().tolist()) == list(range(10))


def test_loader_batches_are_those_of_torch_batch_and_random_samplers() -> None:
    # ShuffledBatches slices one seeded permutation; models trained before it existed used
    # BatchSampler(RandomSampler(...)), and their batches (so their weights) are unchanged
    from torch.utils.data import BatchSampler, RandomSampler

    for n_rows, batch_size in ((10, 4), (214, 512), (1000, 256), (1024, 512)):
        X = torch.arange(n_rows, dtype=torch.float32).reshape(n_rows, 1)
        ours = [
            b[0].flatten().long().tolist() for b in make_loader(X, batch_size=batch_size, seed=7)
        ]
        reference = RandomSampler(range(n_rows), generator=torch.Generator().manual_seed(7))
        assert ours == list(BatchSampler(reference, batch_size, drop_last=False))


def test_training_forward_is_the_encoder_then_the_decoder() -> None:
    # forward calls the layers' forward functions directly; the result must be the modules'
    net = Autoencoder(5, (12, 6), 3, generator=torch.Generator().manual_seed(0), dropout=0.25)
    X = torch.from_numpy(structured(40)[:, :5].copy())
    assert torch.equal(net.eval()(X), net.decoder(net.encoder(X)))
    net.train()
    net.set_dropout_generator(np.random.default_rng(3))
    fast = net(X)
    net.set_dropout_generator(np.random.default_rng(3))
    assert torch.equal(fast, net.decoder(net.encoder(X)))
    assert not torch.equal(fast, net.eval()(X))  # dropout was applied


def test_divergence_is_detected() -> None:
    X = np.full((64, 3), 3e38, dtype=np.float32)  # squared errors overflow float32
    with pytest.raises(TrainingDivergedError, match="loss became"):
        train_autoencoder(X, epochs=2, random_state=0, **PARAMS)


def test_verbose_logs_each_epoch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="dask_anomaly.training"):
        train_autoencoder(structured(200), epochs=2, random_state=0, verbose=True, **PARAMS)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["epoch 1/2", "epoch 2/2"]


def test_cuda_request_without_gpu_is_refused() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device='cuda'"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.gpu
def test_training_on_gpu_matches_shapes() -> None:
    net, history = train_autoencoder(
        structured(500), epochs=2, random_state=0, device="cuda", **PARAMS
    )
    assert len(history) == 2 and next(net.parameters()).device.type == "cpu"


def test_adam_falls_back_without_a_fused_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from dask_anomaly import training

    real = torch.optim.Adam

    def no_fused(params: object, **kwargs: object) -> torch.optim.Adam:
        if kwargs.pop("fused", False):
            raise RuntimeError("fused=True requires all the params to be CUDA tensors")
        return real(params, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training.torch.optim, "Adam", no_fused)
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = training._adam(params, 1e-3)
    assert isinstance(optimizer, real) and not optimizer.defaults["fused"]
    monkeypatch.undo()
    assert training._adam(params, 1e-3).defaults["fused"] in (True, None)


def test_seeds_of_weights_batches_dropout_and_sample_are_distinct() -> None:
    from dask_anomaly import AutoencoderSampler
    from dask_anomaly.training import torch_seeds

    for random_state in (0, 1, 12345):
        seeds = {*torch_seeds(random_state)}
        seeds.add(AutoencoderSampler(random_state=random_state)._sample_seed())
        assert len(seeds) == 4
