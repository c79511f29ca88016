"""Streamed training: seeded partition order, bounded memory, reproducible, fault tolerant."""

from __future__ import annotations

import weakref

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import torch

from dask_anomaly import AutoencoderSampler, TrainingDivergedError
from dask_anomaly.datasets import PLANTED_COLUMN, make_planted
from dask_anomaly.parallel import PartitionStream
from dask_anomaly.preprocessing import TabularPreprocessor

from .conftest import NON_FEATURES, fresh_cluster, killing_once, make_sampler


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return make_planted(12_000, n_anomalies=20, random_state=4)


def stream_sampler(**overrides: object) -> AutoencoderSampler:
    # precision@20 on `big`: 0.95 with 20 epochs, 0.85 with 10
    params: dict[str, object] = {"training": "stream", "train_rows": 6000, "epochs": 20}
    params.update(overrides)
    return make_sampler(**params)


def test_stream_finds_planted_anomalies_and_is_reproducible(big: pd.DataFrame) -> None:
    ddf = dd.from_pandas(big, npartitions=8)
    a = stream_sampler().fit(ddf)
    b = stream_sampler().fit(ddf)
    assert a.loss_history_ == b.loss_history_
    pairs = zip(a.module_.parameters(), b.module_.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)
    assert a.n_train_rows_ == 6000  # 4 of 8 equal partitions per epoch
    assert a.loss_history_[-1] < a.loss_history_[0]
    result = a.sample(ddf, k=20)
    assert result.sample[PLANTED_COLUMN].mean() >= 0.9
    assert result.report.training["mode"] == "stream"
    c = stream_sampler(random_state=1).fit(ddf)
    assert c.loss_history_ != a.loss_history_


def test_partition_order_is_seeded_and_varies_by_epoch(big: pd.DataFrame) -> None:
    ddf = dd.from_pandas(big, npartitions=10)
    pre = TabularPreprocessor(exclude=NON_FEATURES).fit(big)
    stream = PartitionStream(ddf, pre, seed=3, rows_per_epoch=10**9, max_partitions=4)
    again = PartitionStream(ddf, pre, seed=3, rows_per_epoch=10**9, max_partitions=4)
    assert stream.order(0) == again.order(0) and len(stream.order(0)) == 4
    assert stream.order(0) != stream.order(1)
    chunks = list(stream(0))
    expected = [pre.transform(big.iloc[i * 1200 : (i + 1) * 1200]) for i in stream.order(0)]
    for got, want in zip(chunks, expected, strict=False):
        np.testing.assert_array_equal(got, want)
    assert stream.rows_seen == [4800]


def test_at_most_two_partitions_in_memory(
    big: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddf = dd.from_pandas(big, npartitions=12)
    alive: list[weakref.ref] = []  # type: ignore[type-arg]
    peak = [0]
    original = PartitionStream._load

    def tracking_load(self: PartitionStream, index: int) -> np.ndarray:
        held = sum(ref() is not None for ref in alive)
        peak[0] = max(peak[0], held + 1)  # the partitions held plus the one being loaded
        X = original(self, index)
        alive.append(weakref.ref(X))
        return X

    monkeypatch.setattr(PartitionStream, "_load", tracking_load)
    stream_sampler(train_rows=10**6, epochs=2).fit(ddf)
    assert len(alive) == 24  # every partition, twice
    assert peak[0] <= 2


def test_stream_subset_of_partitions(big: pd.DataFrame) -> None:
    ddf = dd.from_pandas(big, npartitions=8)
    sampler = stream_sampler(stream_partitions=2, train_rows=10**6, epochs=2).fit(ddf)
    assert sampler.n_train_rows_ == 3000


def test_stream_on_pandas_trains_on_the_whole_frame(big: pd.DataFrame) -> None:
    sampler = stream_sampler(epochs=2).fit(big)
    assert sampler.n_train_rows_ == 6000  # train_rows cap, as in sampled mode


def test_stream_bad_parameter(big: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="stream_partitions must be a positive integer or None"):
        stream_sampler(stream_partitions=0).fit(big)


def test_stream_divergence_leaves_sampler_unfitted(big: pd.DataFrame) -> None:
    sampler = stream_sampler(learning_rate=1e6, epochs=4)
    with pytest.raises(TrainingDivergedError):
        sampler.fit(dd.from_pandas(big, npartitions=4))
    assert not hasattr(sampler, "module_")


def test_worker_lost_during_streamed_training(tmp_path, big: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """A worker dies while a partition is being streamed: Dask recomputes it; same model."""
    marker = tmp_path / "killed"
    ddf = dd.from_pandas(big, npartitions=8)
    fragile = killing_once(ddf, marker, partition=5)
    expected = stream_sampler(epochs=3, train_rows=10**6).fit(ddf)
    with fresh_cluster():
        got = stream_sampler(epochs=3, train_rows=10**6).fit(fragile)
    assert marker.exists()
    assert got.loss_history_ == expected.loss_history_
