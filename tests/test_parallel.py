"""The Dask path equals the pandas path, on every local scheduler and partitioning."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import torch
from dask.dataframe.utils import assert_eq

from dask_anomaly import AutoencoderSampler
from dask_anomaly.config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.scoring import score_partition

from .conftest import N_PLANTED, make_sampler


def test_decision_function_dask_equals_pandas(
    ddf: dd.DataFrame, pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    scores = fitted_sampler.decision_function(ddf)
    assert isinstance(scores, dd.Series)
    assert_eq(scores, score_partition(pdf, fitted_sampler), check_exact=True)


def test_fit_on_dask_equals_fit_on_pandas(
    ddf: dd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    on_dask = make_sampler().fit(ddf)
    assert on_dask.n_partitions_fit_ == 4
    assert on_dask.preprocessor_.fitted_state() == fitted_sampler.preprocessor_.fitted_state()
    pairs = zip(on_dask.module_.parameters(), fitted_sampler.module_.parameters(), strict=True)
    for a, b in pairs:
        assert torch.equal(a, b)
    assert on_dask.loss_history_ == fitted_sampler.loss_history_


def test_sample_on_each_scheduler_equals_pandas(
    scheduler: str, ddf: dd.DataFrame, pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    expected = fitted_sampler.sample(pdf, k=N_PLANTED).sample
    result = fitted_sampler.sample(ddf, k=N_PLANTED)
    pd.testing.assert_frame_equal(result.sample, expected)
    assert result.report.rows_processed == len(pdf) and result.report.partitions == 4


def test_lazy_outputs_match_the_sample(
    ddf: dd.DataFrame, pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    result = fitted_sampler.sample(ddf, k=7)
    assert isinstance(result.scored, dd.DataFrame) and isinstance(result.preprocessed, dd.DataFrame)
    scored = result.scored.compute()
    assert list(scored.columns) == [*pdf.columns, SCORE_COLUMN, IN_SAMPLE_COLUMN]
    assert len(scored) == len(pdf)
    assert set(scored.index[scored[IN_SAMPLE_COLUMN]]) == set(result.sample.index)
    pd.testing.assert_frame_equal(scored.drop(columns=[SCORE_COLUMN, IN_SAMPLE_COLUMN]), pdf)
    pre = result.preprocessed.compute()
    np.testing.assert_array_equal(pre[SCORE_COLUMN], scored[SCORE_COLUMN])
    features = fitted_sampler.preprocessor_.feature_names_out_
    np.testing.assert_array_equal(
        pre[features].to_numpy(), fitted_sampler.preprocessor_.transform(pdf)
    )
    assert pre[IN_SAMPLE_COLUMN].sum() == 7
    # computing twice gives identical values
    assert_eq(result.scored, scored, check_exact=True)


@pytest.mark.parametrize("nparts,n_members", [((3, 7), 1), ((2, 5), 3)])
def test_partitioning_does_not_change_scores_or_sample(
    pdf: pd.DataFrame, nparts: tuple[int, int], n_members: int
) -> None:
    results = []
    for n in nparts:
        ddf = dd.from_pandas(pdf, npartitions=n)
        sampler = make_sampler(epochs=3, train_rows=1500, n_members=n_members).fit(ddf)
        results.append(
            (sampler.decision_function(ddf).compute(), sampler.sample(ddf, k=N_PLANTED).sample)
        )
    (scores_a, sample_a), (scores_b, sample_b) = results
    pd.testing.assert_series_equal(scores_a, scores_b, check_exact=True)
    pd.testing.assert_frame_equal(sample_a, sample_b)


def test_ties_break_by_row_order_for_any_partitioning() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    pdf = pd.concat([base] * 4, ignore_index=True)  # every row appears 4 times: 4-way ties
    sampler = make_sampler(epochs=2, exclude=None).fit(pdf)
    expected = sampler.sample(pdf, k=6).sample
    for n in (1, 3, 7):
        got = sampler.sample(dd.from_pandas(pdf, npartitions=n), k=6).sample
        pd.testing.assert_frame_equal(got, expected)
    # ties are resolved toward the earlier row: ranks follow the original order within ties
    scores = expected[SCORE_COLUMN].to_numpy()
    for i in range(len(scores) - 1):
        if scores[i] == scores[i + 1]:
            assert expected.index[i] < expected.index[i + 1]


def test_empty_partitions_unknown_divisions_and_duplicate_index(
    pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    ddf = dd.from_pandas(pdf, npartitions=4)
    ddf = ddf[ddf["row_id"] % 1000 < 990].clear_divisions()  # some rows filtered, no divisions
    empty = dd.from_pandas(pdf.iloc[:0], npartitions=1)
    dup = pdf.iloc[:200].copy()  # duplicate index values
    ddf = dd.concat([empty, ddf, empty, dd.from_pandas(dup, npartitions=1)])
    local = pd.concat([pdf[pdf["row_id"] % 1000 < 990], dup])
    result = fitted_sampler.sample(ddf, k=N_PLANTED)
    pd.testing.assert_frame_equal(result.sample, fitted_sampler.sample(local, k=N_PLANTED).sample)
    scored = result.scored.compute()
    assert len(scored) == len(local) and scored[IN_SAMPLE_COLUMN].sum() == N_PLANTED
    assert result.report.partitions == ddf.npartitions


def test_sampler_is_one_key_in_the_graph(
    ddf: dd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    graph = dict(fitted_sampler.decision_function(ddf).__dask_graph__())
    holders = [k for k, v in graph.items() if getattr(v, "value", None) is fitted_sampler]
    assert len(holders) == 1  # shipped once, referenced by every partition's task


def test_rank_and_threshold_in_report(
    ddf: dd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    result = fitted_sampler.sample(ddf, fraction=0.005)
    assert len(result.sample) == 20
    assert result.report.threshold == result.sample[SCORE_COLUMN].iloc[-1]
    assert list(result.sample[RANK_COLUMN]) == list(range(1, 21))
