"""The Dask layer: the only module that imports dask or distributed.

It wires the per-partition functions of :mod:`dask_anomaly.stats` and
:mod:`dask_anomaly.scoring` into graphs: tree reductions for statistics, the training sample and
the global top-k, and ``map_partitions`` with explicit ``meta`` for the lazy outputs. The fitted
sampler enters every graph as a single ``dask.delayed`` key, so it reaches each worker once per
computation instead of being pickled into every task.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import dask
import dask.dataframe as dd
import dask.threaded
import numpy as np
import pandas as pd
from dask.delayed import Delayed

from ._rowhash import sampling_threshold
from .config import DEFAULT_SPLIT_EVERY, IN_SAMPLE_COLUMN, SCORE_COLUMN
from .preprocessing import TabularPreprocessor
from .scoring import (
    TopK,
    combine_candidates,
    combine_topk,
    preprocessed_partition,
    score_partition,
    scored_partition,
    topk_partition,
    training_candidates,
)
from .stats import (
    SumGrid,
    combine_stats,
    combine_sums,
    finish_stats,
    partition_stats,
    partition_sums,
)
from .training import torch_threads

if TYPE_CHECKING:
    from distributed import Client

    from .sampler import AutoencoderSampler

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Worker environment for clusters this library starts (CLI, demo, benchmarks). The nanny sets
#: MALLOC_TRIM_THRESHOLD_=65536, and setting any malloc threshold freezes glibc's mmap threshold
#: at 128 KiB: every batch buffer was then mapped and unmapped, and scoring 10M rows on 2 workers
#: took 19-45 s instead of 11 s. A high trim threshold plus a 64 MiB mmap threshold fix both.
WORKER_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": str(128 * 1024 * 1024),
    "MALLOC_MMAP_THRESHOLD_": str(64 * 1024 * 1024),
}


@contextmanager
def worker_environment() -> Iterator[None]:
    """Start nanny workers inside this block with :data:`WORKER_ENVIRON` in their environment.

    The nanny lets this process's environment override its ``pre-spawn-environ`` config (and
    writes that config into the environment), so both are set here and restored afterwards.
    """
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENVIRON}
    saved = {key: os.environ.get(key) for key in WORKER_ENVIRON}
    os.environ.update(WORKER_ENVIRON)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def compute(*objs: Any, client: Client | None = None) -> tuple[Any, ...]:
    """Compute Dask objects on ``client``, or on the current default scheduler when None."""
    if client is not None:
        futures = client.compute(list(objs))
        return tuple(client.gather(futures))
    if dask.base.get_scheduler(collections=list(objs)) is dask.threaded.get:
        # the threaded scheduler runs one task per core: one torch thread each, no oversubscription
        with torch_threads(1):
            return dask.compute(*objs)
    return dask.compute(*objs)


def tree_reduce(
    leaves: Sequence[Delayed],
    combine: Callable[..., T],
    *,
    split_every: int = DEFAULT_SPLIT_EVERY,
    **kwargs: Any,
) -> Delayed:
    """Combine ``leaves`` in a tree of fan-in ``split_every``; ``combine(list, **kwargs)``."""
    if not leaves:
        raise ValueError("tree_reduce needs at least one leaf.")
    level = list(leaves)
    while len(level) > 1:
        level = [
            dask.delayed(combine, pure=True)(level[i : i + split_every], **kwargs)
            for i in range(0, len(level), split_every)
        ]
    if len(leaves) == 1:
        return dask.delayed(combine, pure=True)(level, **kwargs)
    return level[0]


def fit_preprocessor(
    ddf: dd.DataFrame, preprocessor: TabularPreprocessor, *, client: Client | None = None
) -> tuple[TabularPreprocessor, int]:
    """Fit ``preprocessor`` with statistics reduced over every partition of ``ddf``.

    Returns
    -------
    preprocessor : TabularPreprocessor
        Fitted (the same object).
    n_partitions : int
    """
    kinds, dropped = preprocessor.select_columns(ddf.dtypes)
    parts = ddf[list(kinds)].to_delayed()
    # pass 1: counts, extremes, categories; pass 2: sums on the grid the extremes fix
    leaves = [dask.delayed(partition_stats, pure=True)(p, kinds) for p in parts]
    (stats,) = compute(tree_reduce(leaves, combine_stats), client=client)
    grid = SumGrid.from_stats(stats)
    if grid.names and stats.n_rows:
        leaves = [dask.delayed(partition_sums, pure=True)(p, grid) for p in parts]
        (sums,) = compute(tree_reduce(leaves, combine_sums), client=client)
        stats = finish_stats(stats, grid, sums)
    return preprocessor.fit_from_stats(stats, dropped=dropped), len(parts)


def training_sample(
    ddf: dd.DataFrame,
    preprocessor: TabularPreprocessor,
    *,
    n_rows: int,
    seed: int,
    client: Client | None = None,
) -> np.ndarray:
    """Return up to ``n_rows`` preprocessed rows drawn by seeded hash, in hash order.

    The result depends on the rows and the seed only, not on how they are partitioned.
    """
    wanted = min(n_rows, preprocessor.n_rows_seen_)
    parts = ddf[preprocessor.feature_names_in_].to_delayed()
    slack = 1.0
    while True:
        threshold = sampling_threshold(n_rows, preprocessor.n_rows_seen_, slack=slack)
        leaves = [
            dask.delayed(training_candidates, pure=True)(
                p, preprocessor, seed=seed, threshold=threshold
            )
            for p in parts
        ]
        (found,) = compute(tree_reduce(leaves, combine_candidates, n=n_rows), client=client)
        if len(found.X) >= wanted or threshold is None:
            return found.X
        slack *= 4.0  # very unlikely: fewer candidates than wanted; widen and draw again
        logger.info(
            "training sample: %d of %d candidates, widening the threshold", len(found.X), wanted
        )


def local_training_sample(
    pdf: pd.DataFrame, preprocessor: TabularPreprocessor, *, n_rows: int, seed: int
) -> np.ndarray:
    """The pandas counterpart of :func:`training_sample` (same rows, same order)."""
    found = combine_candidates(
        [training_candidates(pdf, preprocessor, seed=seed, threshold=None)], n=n_rows
    )
    return found.X


def _sampler_key(sampler: AutoencoderSampler) -> Delayed:
    """Wrap the fitted sampler as one graph key, shipped once to each worker that needs it."""
    return dask.delayed(sampler, pure=True)


def score_frame(ddf: dd.DataFrame, sampler: AutoencoderSampler) -> dd.Series:
    """Return the lazy anomaly score of every row of ``ddf``."""
    meta = pd.Series([], dtype="float64", name=SCORE_COLUMN, index=ddf._meta.index[:0])
    return ddf.map_partitions(score_partition, _sampler_key(sampler), meta=meta)


def top_k(
    ddf: dd.DataFrame, sampler: AutoencoderSampler, *, k: int, client: Client | None = None
) -> TopK:
    """Score every partition and return its global top ``k`` by tree reduction."""
    key = _sampler_key(sampler)
    leaves = [
        dask.delayed(topk_partition, pure=True)(part, key, k=k, partition=i)
        for i, part in enumerate(ddf.to_delayed())
    ]
    (top,) = compute(tree_reduce(leaves, combine_topk, k=k), client=client)
    return top


def count_rows(ddf: dd.DataFrame, *, client: Client | None = None) -> int:
    """Return the number of rows (from Parquet metadata when Dask can)."""
    (n,) = compute(ddf.shape[0], client=client)
    return int(n)


def scored_frame(
    ddf: dd.DataFrame, sampler: AutoencoderSampler, selected: dict[int, np.ndarray]
) -> dd.DataFrame:
    """Lazy ``ddf`` with ``anomaly_score`` and ``in_sample`` columns."""
    meta = ddf._meta.copy()
    meta[SCORE_COLUMN] = np.array([], dtype="float64")
    meta[IN_SAMPLE_COLUMN] = np.array([], dtype=bool)
    return ddf.map_partitions(scored_partition, _sampler_key(sampler), selected, meta=meta)


def preprocessed_frame(
    ddf: dd.DataFrame, sampler: AutoencoderSampler, selected: dict[int, np.ndarray]
) -> dd.DataFrame:
    """Lazy preprocessed features of ``ddf`` with ``anomaly_score`` and ``in_sample``."""
    names = sampler.preprocessor_.feature_names_out_
    meta = pd.DataFrame(
        {
            **{n: np.array([], dtype="float32") for n in names},
            SCORE_COLUMN: np.array([], dtype="float64"),
            IN_SAMPLE_COLUMN: np.array([], dtype=bool),
        },
        index=ddf._meta.index[:0],
    )
    return ddf.map_partitions(preprocessed_partition, _sampler_key(sampler), selected, meta=meta)


class PartitionStream:
    """Preprocessed partitions in a seeded random order, one epoch at a time.

    Calling the stream with an epoch number yields float32 arrays, one per partition, while the
    next partition is already being computed (on the cluster, or by the local scheduler in a
    background thread). At most two partitions are held in this process at once. An epoch stops
    after ``max_partitions`` partitions, or after the partition that reaches ``rows_per_epoch``
    rows.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
    preprocessor : TabularPreprocessor
        Fitted.
    seed : int
        Seeds the partition order of every epoch.
    rows_per_epoch : int
        Row budget of an epoch.
    max_partitions : int or None, default=None
        Partitions visited per epoch; None visits all (until the row budget is spent).
    client : distributed.Client or None, default=None
    """

    def __init__(
        self,
        ddf: dd.DataFrame,
        preprocessor: TabularPreprocessor,
        *,
        seed: int,
        rows_per_epoch: int,
        max_partitions: int | None = None,
        client: Client | None = None,
    ) -> None:
        parts = ddf[preprocessor.feature_names_in_].to_delayed()
        self._arrays = [dask.delayed(preprocessor.transform, pure=True)(p) for p in parts]
        self._seed = seed
        self._rows_per_epoch = rows_per_epoch
        self._max_partitions = max_partitions or len(parts)
        self._client = client
        self.rows_seen: list[int] = []

    def order(self, epoch: int) -> list[int]:
        """The partitions visited in ``epoch``, in order (before the row budget applies)."""
        rng = np.random.default_rng([self._seed, epoch])
        return rng.permutation(len(self._arrays))[: self._max_partitions].tolist()

    def __call__(self, epoch: int) -> Iterator[np.ndarray]:
        from concurrent.futures import ThreadPoolExecutor

        order = self.order(epoch)
        rows = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dask-anomaly-prefetch") as pool:
            pending = pool.submit(self._load, order[0]) if order else None
            visited = 0
            while pending is not None:
                X = pending.result()
                visited += 1
                rows += len(X)
                more = visited < len(order) and rows < self._rows_per_epoch
                pending = pool.submit(self._load, order[visited]) if more else None
                yield X
                del X  # keep at most the next partition while the caller trains
        self.rows_seen.append(rows)
        logger.info("stream epoch %d: %d rows from %d partitions", epoch + 1, rows, visited)

    def _load(self, index: int) -> np.ndarray:
        (X,) = compute(self._arrays[index], client=self._client)
        return X
