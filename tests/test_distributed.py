"""The cluster path on a real LocalCluster with two worker processes."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from dask_anomaly import AutoencoderSampler
from dask_anomaly.config import IN_SAMPLE_COLUMN
from dask_anomaly.datasets import PLANTED_COLUMN, make_planted
from dask_anomaly.parallel import WORKER_ENVIRON
from dask_anomaly.scoring import score_partition

from .conftest import N_PLANTED, fresh_cluster, killing_once, make_sampler


@pytest.fixture
def on_cluster(client):  # type: ignore[no-untyped-def]
    with dask.config.set(scheduler=client):
        yield client


def test_planted_anomalies_found_on_cluster(
    on_cluster, ddf: dd.DataFrame, pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:  # type: ignore[no-untyped-def]
    sampler = make_sampler().fit(ddf)
    result = sampler.sample(ddf, k=N_PLANTED)
    precision = result.sample[PLANTED_COLUMN].mean()
    assert precision >= 0.9, f"precision@{N_PLANTED} = {precision}"
    # identical to the pandas path fitted in this process
    pd.testing.assert_frame_equal(result.sample, fitted_sampler.sample(pdf, k=N_PLANTED).sample)
    scored = result.scored.compute()
    assert scored[IN_SAMPLE_COLUMN].sum() == N_PLANTED and len(scored) == len(pdf)


def test_scores_on_cluster_equal_local(
    on_cluster, ddf: dd.DataFrame, pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:  # type: ignore[no-untyped-def]
    remote = fitted_sampler.decision_function(ddf).compute()
    pd.testing.assert_series_equal(remote, score_partition(pdf, fitted_sampler), check_exact=True)


def test_explicit_client_argument(
    client, ddf: dd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:  # type: ignore[no-untyped-def]
    from dask_anomaly.pipeline import select_sample

    result = select_sample(fitted_sampler, ddf, k=5, client=client)
    expected = fitted_sampler.sample(ddf, k=5)  # threads
    pd.testing.assert_frame_equal(result.sample, expected.sample)


def test_workers_get_the_malloc_trim_override(client) -> None:  # type: ignore[no-untyped-def]
    import os

    values = client.run(lambda: {key: os.environ.get(key) for key in WORKER_ENVIRON})
    assert all(got == WORKER_ENVIRON for got in values.values())


def test_no_thread_oversubscription_on_workers(client) -> None:  # type: ignore[no-untyped-def]
    """torch threads x Dask threads per worker stay within the cores (the nanny sets OMP=1)."""
    import os

    def threads(dask_worker) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        import torch

        return torch.get_num_threads(), dask_worker.state.nthreads

    for torch_threads, dask_threads in client.run(threads).values():
        assert torch_threads * dask_threads * len(client.nthreads()) <= max(os.cpu_count() or 1, 2)


def test_local_threaded_scheduler_limits_torch_threads() -> None:
    import torch

    from dask_anomaly.parallel import compute

    def threads() -> int:
        return torch.get_num_threads()

    before = torch.get_num_threads()
    with dask.config.set(scheduler="threads"):
        (inside,) = compute(dask.delayed(threads)())
    assert inside == 1 and torch.get_num_threads() == before


def test_reproducible_across_partitionings_on_cluster(on_cluster) -> None:  # type: ignore[no-untyped-def]
    pdf = make_planted(3000, n_anomalies=10, random_state=5)
    samples = []
    for n in (3, 7):
        ddf = dd.from_pandas(pdf, npartitions=n)
        sampler = make_sampler(epochs=3).fit(ddf)
        samples.append(sampler.sample(ddf, k=10).sample)
    pd.testing.assert_frame_equal(samples[0], samples[1])


def test_worker_killed_while_scoring_gives_the_same_sample(
    tmp_path, ddf: dd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:  # type: ignore[no-untyped-def]
    """A worker process dies mid-computation; Dask reruns its tasks and the sample is unchanged."""
    marker = tmp_path / "killed"
    fragile = killing_once(ddf, marker, partition=2)
    expected = fitted_sampler.sample(ddf, k=N_PLANTED).sample
    with fresh_cluster():
        result = fitted_sampler.sample(fragile, k=N_PLANTED)
    assert marker.exists()  # the worker really died
    pd.testing.assert_frame_equal(result.sample, expected)
