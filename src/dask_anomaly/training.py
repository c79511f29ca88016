"""The training loop: seeded DataLoader batches, Adam, MSE loss, mean loss per epoch."""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from .exceptions import TrainingDivergedError
from .model import Autoencoder

logger = logging.getLogger(__name__)

#: Torch intra-op threads while training on the CPU (see :func:`torch_threads`).
DEFAULT_TRAINING_THREADS = 1

#: An epoch whose mean loss exceeds this multiple of the best epoch so far counts as divergence.
DIVERGENCE_FACTOR = 100.0


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with ``n`` torch intra-op threads (None: leave as is), then restore.

    Small autoencoders gain nothing from intra-op threads, and when Dask workers share the cores
    the threads spin against them: on 2 busy cores, training at batch 256 ran at about 80,000
    rows/s on one thread and below 10,000 rows/s on two.
    """
    previous = torch.get_num_threads()
    if n is None or n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(device: str) -> torch.device:
    """Return the torch device for ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        If ``"cuda"`` is asked for and no CUDA device is available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was requested but torch sees no CUDA GPU; use 'auto' or 'cpu'."
        )
    return torch.device(device)


#: Words of ``SeedSequence(random_state)``: one per random choice, never shared.
INIT_WORD, SHUFFLE_WORD, SAMPLE_WORD, DROPOUT_WORD = range(4)


def seed_words(random_state: int) -> np.ndarray:
    """The four uint64 words from which every random choice of a fit is seeded."""
    return np.random.SeedSequence(random_state).generate_state(4, dtype=np.uint64)


def torch_seeds(random_state: int) -> tuple[int, int, int]:
    """Derive independent seeds for weight initialisation, batch shuffling and dropout.

    They are words of :func:`seed_words` (shifted into torch's seed range); the training
    sample's row hash uses :data:`SAMPLE_WORD`, so no two uses share a word.
    """
    words = seed_words(random_state)
    init_seed, shuffle_seed, dropout_seed = (
        int(words[i] >> np.uint64(1)) for i in (INIT_WORD, SHUFFLE_WORD, DROPOUT_WORD)
    )
    return init_seed, shuffle_seed, dropout_seed


class ShuffledBatches(Sampler[torch.Tensor]):
    """Row indices of each batch, from one seeded permutation of the rows, as index tensors.

    The batches are those of ``BatchSampler(RandomSampler(rows, generator=generator),
    batch_size, drop_last=False)``, without turning every index into a Python int and every
    batch into a list (a cost per row, paid again in every epoch).
    """

    def __init__(self, n_rows: int, batch_size: int, generator: torch.Generator) -> None:
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return -(-self.n_rows // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n_rows, generator=self.generator)
        return iter(order.split(self.batch_size))


def make_loader(X: torch.Tensor, *, batch_size: int, seed: int) -> DataLoader:
    """Return a DataLoader of shuffled batches, sliced whole (no per-row collate)."""
    dataset = TensorDataset(X)
    generator = torch.Generator().manual_seed(seed)
    sampler = ShuffledBatches(len(X), batch_size, generator)
    # The loader draws a base seed for worker processes at each epoch: give it its own
    # generator so that the global torch RNG is never consumed.
    loader_generator = torch.Generator().manual_seed(seed + 1)
    return DataLoader(dataset, sampler=sampler, batch_size=None, generator=loader_generator)


#: Yields the chunks of rows (float32 arrays) to train on in one epoch, given the epoch number.
ChunkSource = Callable[[int], Iterable[np.ndarray]]


def _chunk_seed(shuffle_seed: int, epoch: int, chunk: int) -> int:
    """Seed of the batch order of one chunk in one epoch."""
    state = np.random.SeedSequence([shuffle_seed, epoch, chunk]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def train_autoencoder(
    X: np.ndarray,
    *,
    hidden_layers: Sequence[int],
    bottleneck: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    random_state: int,
    dropout: float = 0.0,
    n_members: int = 1,
    device: str = "cpu",
    verbose: bool = False,
) -> tuple[Autoencoder, list[float]]:
    """Train an autoencoder on the rows of ``X`` and return it with the mean loss of each epoch.

    Parameters
    ----------
    X : numpy.ndarray of shape (n_rows, n_features)
        Preprocessed float32 training rows.
    hidden_layers, bottleneck, dropout, n_members : see :class:`~dask_anomaly.model.Autoencoder`.
    epochs : int
        Passes over ``X``.
    batch_size : int
        Rows per optimisation step.
    learning_rate : float
        Adam's step size.
    random_state : int
        Seeds the initial weights and the batch order.
    device : str, default="cpu"
        Torch device to train on.
    verbose : bool, default=False
        Show a progress bar (in a terminal) or log one line per epoch.

    Returns
    -------
    module : Autoencoder
        The trained network, on the CPU, in eval mode.
    history : list of float
        Mean training loss of each epoch (averaged over the members of an ensemble).

    Raises
    ------
    TrainingDivergedError
        If an epoch's loss is NaN, infinite, or far above its best.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> net, history = train_autoencoder(X, hidden_layers=(8,), bottleneck=2, epochs=2,
    ...                                  batch_size=16, learning_rate=1e-2, random_state=0)
    >>> len(history)
    2
    """
    return train_on_chunks(
        lambda epoch: [X],
        n_features=X.shape[1],
        hidden_layers=hidden_layers,
        bottleneck=bottleneck,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        random_state=random_state,
        dropout=dropout,
        n_members=n_members,
        device=device,
        verbose=verbose,
    )


def train_on_chunks(
    chunks: ChunkSource,
    *,
    n_features: int,
    hidden_layers: Sequence[int],
    bottleneck: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    random_state: int,
    dropout: float = 0.0,
    n_members: int = 1,
    device: str = "cpu",
    verbose: bool = False,
) -> tuple[Autoencoder, list[float]]:
    """Train on the chunks that ``chunks(epoch)`` yields; each chunk is shuffled and batched.

    With one chunk per epoch this is the sampled mode; streamed training passes one chunk per
    partition, so only the chunk being trained on (and the one being prefetched) is in memory.
    Parameters and results are those of :func:`train_autoencoder`.
    """
    init_seed, shuffle_seed, dropout_seed = torch_seeds(random_state)
    target = torch.device(device)
    module = Autoencoder(
        n_features,
        hidden_layers,
        bottleneck,
        generator=torch.Generator().manual_seed(init_seed),
        dropout=dropout,
        n_members=n_members,
    ).to(target)
    module.set_dropout_generator(
        np.random.default_rng(dropout_seed)
        if target.type == "cpu"
        else torch.Generator(device=target).manual_seed(dropout_seed)
    )
    optimizer = _adam(list(module.parameters()), learning_rate)
    loss_fn = nn.MSELoss()
    history: list[float] = []
    bar = _progress(epochs, verbose)
    module.train()
    with torch_threads(DEFAULT_TRAINING_THREADS if target.type == "cpu" else None):
        for epoch in range(epochs):
            mean_loss = _train_epoch(
                chunks(epoch),
                module,
                optimizer,
                loss_fn,
                batch_size=batch_size,
                seeds=functools.partial(_chunk_seed, shuffle_seed, epoch),
                device=target,
            )
            _check_loss(mean_loss, history, epoch, learning_rate)
            history.append(mean_loss)
            _report_epoch(bar, epoch, epochs, mean_loss, verbose)
    if bar is not None:
        bar.close()
    module.set_dropout_generator(None)
    return module.cpu().eval(), history


def _adam(params: list[nn.Parameter], learning_rate: float) -> torch.optim.Adam:
    """Adam, with its fused kernel where this torch build has one for the device.

    For networks this small the fused step is about a third faster on the CPU (one kernel for
    all parameters instead of several per tensor); the update rule is the same.
    """
    try:
        return torch.optim.Adam(params, lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch: no fused CPU kernel
        return torch.optim.Adam(params, lr=learning_rate)


def _train_epoch(
    chunks: Iterable[np.ndarray],
    module: Autoencoder,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    *,
    batch_size: int,
    seeds: Callable[[int], int],
    device: torch.device,
) -> float:
    """Train one pass over ``chunks`` (each shuffled with ``seeds(i)``); return the mean loss."""
    total, rows = 0.0, 0
    for i, X in enumerate(chunks):
        if len(X) == 0:
            continue
        tensor = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
        for (batch,) in make_loader(tensor, batch_size=batch_size, seed=seeds(i)):
            optimizer.zero_grad(set_to_none=True)
            # with several members: the mean of their losses
            loss = loss_fn(module(batch), module.targets(batch))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            rows += len(batch)
        del X, tensor  # release this chunk before the source loads the one after next
    return total / max(rows, 1)


def _check_loss(mean_loss: float, history: list[float], epoch: int, learning_rate: float) -> None:
    """Raise :class:`TrainingDivergedError` for a NaN, infinite or exploding epoch loss."""
    if not math.isfinite(mean_loss):
        raise TrainingDivergedError(
            f"The training loss became {mean_loss} in epoch {epoch + 1}; lower learning_rate "
            f"(now {learning_rate}) or check the data for extreme values."
        )
    if history and mean_loss > DIVERGENCE_FACTOR * min(history):
        raise TrainingDivergedError(
            f"The training loss diverged: {mean_loss:.4g} in epoch {epoch + 1}, more than "
            f"{DIVERGENCE_FACTOR:g} times its best {min(history):.4g}; lower learning_rate "
            f"(now {learning_rate})."
        )


def _progress(epochs: int, verbose: bool):  # type: ignore[no-untyped-def]
    """Return a tqdm bar when verbose in a terminal, else None."""
    if not verbose or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc="training", unit="epoch", file=sys.stderr)


def _report_epoch(bar, epoch: int, epochs: int, loss: float, verbose: bool) -> None:  # type: ignore[no-untyped-def]
    if bar is not None:
        bar.set_postfix(loss=f"{loss:.5f}")
        bar.update(1)
    elif verbose:
        logger.info("epoch %d/%d: mean loss %.6f", epoch + 1, epochs, loss)
