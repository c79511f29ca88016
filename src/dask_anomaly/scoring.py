"""Per-partition functions: pandas in, pandas or NumPy out, no Dask.

The Dask layer (:mod:`dask_anomaly.parallel`) maps these over partitions; the pandas path calls
them on a whole frame as partition 0. ``sampler`` is a fitted
:class:`~dask_anomaly.sampler.AutoencoderSampler`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ._rowhash import lowest_hash_order, row_hashes
from .config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from .model import InferenceNetwork, aligned_width

if TYPE_CHECKING:
    from .preprocessing import TabularPreprocessor
    from .sampler import AutoencoderSampler

PARTITION_COLUMN = "__dask_anomaly_partition"
_ROW_BLOCK = 64
POSITION_COLUMN = "__dask_anomaly_position"


def score_components(
    network: InferenceNetwork,
    X: np.ndarray,
    *,
    code_center: np.ndarray,
    code_whitening: np.ndarray,
    batch_size: int,
    device: torch.device | None = None,
    feature_scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's mean squared reconstruction error and its squared code distance (float64).

    With ``feature_scale`` (one value per model input), each feature's squared error is divided
    by its value before the mean (see :func:`~dask_anomaly.calibration.feature_error_scale`).

    The code distance is ``|(code - code_center) @ code_whitening| ** 2``, a Mahalanobis
    distance of the row's bottleneck code. For an ensemble of autoencoders the error is the mean
    over the members' reconstructions and the code is the members' codes side by side (with a
    block-diagonal whitening the distance is the sum of the members' distances). ``network``
    holds the aligned inference copy, on ``device``. Every forward pass and every reduction sees
    a padded batch of fixed, aligned shape (a multiple of 64 rows of 64-byte aligned features),
    so a row's values do not depend on its neighbours or on partition boundaries.

    Examples
    --------
    >>> from dask_anomaly.model import Autoencoder, InferenceNetwork
    >>> net = Autoencoder(3, (4,), 2, generator=torch.Generator().manual_seed(0))
    >>> errors, distances = score_components(
    ...     InferenceNetwork.of(net), np.zeros((5, 3), np.float32),
    ...     code_center=np.zeros(2), code_whitening=np.eye(2), batch_size=4)
    >>> errors.shape, distances.shape
    ((5,), (5,))
    """
    n, d = X.shape
    device = device or torch.device("cpu")
    n_members = network.n_members
    encoder, decoder = network.encoder, network.decoder
    code_width = aligned_width(len(code_center))
    center = _padded(code_center, (code_width,), device)
    whitening_t = _padded(np.asarray(code_whitening).T, (code_width, code_width), device)
    errors = np.empty(n, dtype=np.float64)
    distances = np.empty(n, dtype=np.float64)
    weights = None
    if feature_scale is not None:  # one weight per output column, zero on the padding
        inverse = np.tile(1.0 / np.asarray(feature_scale, dtype=np.float64), n_members)
        weights = _padded(inverse, (aligned_width(d * n_members),), device)
    with torch.inference_mode():
        for start, stop, batch in _padded_batches(X, batch_size=batch_size, device=device):
            code = encoder(batch)
            # padded columns reconstruct to exactly 0, so they add exact zeros to each sum;
            # reduce over the whole padded batch, then slice: reductions also vary with shape
            output = decoder(code)
            target = _tiled(batch, d, n_members, output.shape[1])
            squared = output.sub_(target).square_()
            if weights is not None:
                squared.mul_(weights)
            per_row = squared.sum(dim=1).div_(d * n_members)
            errors[start:stop] = per_row[: stop - start].double().cpu().numpy()
            white = torch.nn.functional.linear(code.sub_(center), whitening_t)
            per_row = white.square_().sum(dim=1)
            distances[start:stop] = per_row[: stop - start].double().cpu().numpy()
    return errors, distances


def feature_errors_and_codes(
    network: InferenceNetwork, X: np.ndarray, *, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's squared error per model input (float32) and its code (float64).

    The same padded batches and aligned inference copy as :func:`score_components`, on the CPU;
    an ensemble's error per feature is the mean over its members' reconstructions, and its code
    is the members' codes side by side.

    Examples
    --------
    >>> from dask_anomaly.model import Autoencoder, InferenceNetwork
    >>> net = Autoencoder(3, (4,), 2, generator=torch.Generator().manual_seed(0))
    >>> errors, codes = feature_errors_and_codes(
    ...     InferenceNetwork.of(net), np.zeros((5, 3), np.float32), batch_size=4)
    >>> errors.shape, codes.shape
    ((5, 3), (5, 2))
    """
    n, d = X.shape
    n_members, bottleneck = network.n_members, network.code_width
    encoder, decoder = network.encoder, network.decoder
    errors = np.empty((n, d), dtype=np.float32)
    codes = np.empty((n, bottleneck), dtype=np.float64)
    with torch.inference_mode():
        for start, stop, batch in _padded_batches(X, batch_size=batch_size, device=None):
            rows = stop - start
            code = encoder(batch)
            codes[start:stop] = code[:rows, :bottleneck].double().numpy()
            output = decoder(code)
            error = output.sub_(_tiled(batch, d, n_members, output.shape[1])).square_()
            error = error[:rows, : d * n_members].reshape(rows, n_members, d).mean(dim=1)
            errors[start:stop] = error.numpy()
    return errors, codes


def _tiled(batch: torch.Tensor, d: int, n_members: int, width: int) -> torch.Tensor:
    """Columns ``:d`` of ``batch`` repeated ``n_members`` times, zero-padded to ``width``."""
    if n_members == 1:
        return batch
    tiled = batch[:, :d].repeat(1, n_members)
    return torch.nn.functional.pad(tiled, (0, width - d * n_members))


def _padded(values: np.ndarray, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Zero-pad a float array to ``shape`` as a float32 tensor on ``device``."""
    values = np.asarray(values, dtype=np.float32)
    out = torch.zeros(shape, dtype=torch.float32)
    out[tuple(slice(0, k) for k in values.shape)] = torch.from_numpy(np.ascontiguousarray(values))
    return out.to(device)


def _padded_batches(
    X: np.ndarray, *, batch_size: int, device: torch.device | None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, stop, batch)``: rows ``start:stop`` of ``X`` in a zero-padded buffer.

    The buffer has a multiple of 64 rows and an aligned number of columns: CPU matrix kernels
    treat a remainder of fewer rows differently, which changed last bits with partition sizes.
    The buffer is reused: consume each batch before asking for the next.
    """
    n, d = X.shape
    if n == 0:
        return
    device = device or torch.device("cpu")
    inputs = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    size = _round_up(min(batch_size, n), _ROW_BLOCK)
    buffer = torch.zeros(size, aligned_width(d), dtype=torch.float32, device=device)
    for start in range(0, n, size):
        stop = min(start + size, n)
        buffer[: stop - start, :d].copy_(inputs[start:stop])
        if stop - start < size:
            buffer[stop - start :].zero_()
        yield start, stop, buffer


def _round_up(n: int, block: int) -> int:
    return -(-n // block) * block


def score_rows(part: pd.DataFrame, sampler: AutoencoderSampler) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, scores)``: the preprocessed rows of ``part`` and their anomaly scores."""
    X = sampler.preprocessor_.transform(part)
    return X, sampler._score_array(X)


def score_partition(part: pd.DataFrame, sampler: AutoencoderSampler) -> pd.Series:
    """Return the anomaly score of each row of ``part`` (higher = more anomalous)."""
    _, scores = score_rows(part, sampler)
    return pd.Series(scores, index=part.index, name=SCORE_COLUMN)


def _in_sample_mask(n: int, selected: dict[int, np.ndarray], partition: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    positions = selected.get(partition)
    if positions is not None:
        mask[positions] = True
    return mask


def scored_partition(
    part: pd.DataFrame,
    sampler: AutoencoderSampler,
    selected: dict[int, np.ndarray],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Return ``part`` with ``anomaly_score`` and ``in_sample`` columns added."""
    partition = partition_info["number"] if partition_info else 0
    _, scores = score_rows(part, sampler)
    out = part.copy(deep=False)
    out[SCORE_COLUMN] = scores
    out[IN_SAMPLE_COLUMN] = _in_sample_mask(len(part), selected, partition)
    return out


def preprocessed_partition(
    part: pd.DataFrame,
    sampler: AutoencoderSampler,
    selected: dict[int, np.ndarray],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Return the preprocessed features of ``part`` with ``anomaly_score`` and ``in_sample``."""
    partition = partition_info["number"] if partition_info else 0
    X, scores = score_rows(part, sampler)
    out = pd.DataFrame(X, index=part.index, columns=sampler.preprocessor_.feature_names_out_)
    out[SCORE_COLUMN] = scores
    out[IN_SAMPLE_COLUMN] = _in_sample_mask(len(part), selected, partition)
    return out


@dataclass
class TopK:
    """The ``k`` highest-scoring rows seen so far, with the number of rows and partitions seen."""

    frame: pd.DataFrame
    n_rows: int
    n_partitions: int


def top_order(
    scores: np.ndarray, partitions: np.ndarray, positions: np.ndarray, k: int
) -> np.ndarray:
    """Return the indices of the ``k`` largest scores, best first.

    Ties are broken by partition, then position: the order of the rows in the whole table,
    which is the same however the rows are partitioned. Only candidates at or above the k-th
    score are sorted, never the whole array.
    """
    n = len(scores)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        candidates = np.flatnonzero(scores >= kth)
    else:
        candidates = np.arange(n)
    order = np.lexsort((positions[candidates], partitions[candidates], -scores[candidates]))
    return candidates[order[:k]]


def topk_partition(
    part: pd.DataFrame, sampler: AutoencoderSampler, *, k: int, partition: int
) -> TopK:
    """Score one partition and keep its ``k`` most anomalous rows with their original columns."""
    _, scores = score_rows(part, sampler)
    positions = np.arange(len(part))
    partitions = np.full(len(part), partition)
    keep = top_order(scores, partitions, positions, k)
    frame = part.iloc[keep].copy()
    frame[SCORE_COLUMN] = scores[keep]
    frame[PARTITION_COLUMN] = partition
    frame[POSITION_COLUMN] = keep
    return TopK(frame, len(part), 1)


def combine_topk(parts: list[TopK], *, k: int) -> TopK:
    """Merge partial top-k results into the top ``k`` of their union."""
    frames = [p.frame for p in parts if len(p.frame)]
    frame = pd.concat(frames) if frames else parts[0].frame
    keep = top_order(
        frame[SCORE_COLUMN].to_numpy(),
        frame[PARTITION_COLUMN].to_numpy(),
        frame[POSITION_COLUMN].to_numpy(),
        k,
    )
    return TopK(frame.iloc[keep], sum(p.n_rows for p in parts), sum(p.n_partitions for p in parts))


def finish_topk(top: TopK) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Return the ranked sample (internal columns dropped) and selected positions per partition."""
    frame = top.frame
    selected = {
        int(p): np.sort(g[POSITION_COLUMN].to_numpy())
        for p, g in frame.groupby(PARTITION_COLUMN, sort=True)
    }
    sample = frame.drop(columns=[PARTITION_COLUMN, POSITION_COLUMN])
    sample[RANK_COLUMN] = np.arange(1, len(sample) + 1)
    return sample, selected


@dataclass
class Candidates:
    """Rows whose hash fell under the sampling threshold."""

    hashes: np.ndarray
    X: np.ndarray


def training_candidates(
    part: pd.DataFrame, preprocessor: TabularPreprocessor, *, seed: int, threshold: int | None
) -> Candidates:
    """Preprocess ``part`` and keep the rows whose seeded hash is below ``threshold``."""
    X = preprocessor.transform(part)
    hashes = row_hashes(X, seed)
    if threshold is not None:
        keep = hashes < np.uint64(threshold)
        X, hashes = X[keep], hashes[keep]
    return Candidates(hashes, X)


def combine_candidates(parts: list[Candidates], *, n: int) -> Candidates:
    """Keep the ``n`` candidates with the smallest hashes, in hash order."""
    hashes = np.concatenate([p.hashes for p in parts])
    X = np.concatenate([p.X for p in parts])
    order = lowest_hash_order(hashes, X, n)
    return Candidates(hashes[order], X[order])
