"""Explanations: per-column contributions that add up to each sampled row's anomaly score."""

from __future__ import annotations

import json

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from dask_anomaly import AutoencoderSampler, NotFittedError, anomaly_sample
from dask_anomaly.config import RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.explain import (
    CODE_CONTRIBUTION,
    explain_rows,
    explanation_records,
    format_top_features,
    top_features,
    top_rows_table,
)

from .conftest import make_sampler


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """Numbers with missing values, a text column and a boolean: one-hot and indicator features."""
    rng = np.random.default_rng(3)
    n = 1500
    base = rng.normal(size=n)
    pdf = pd.DataFrame(
        {
            "x": base + 0.1 * rng.normal(size=n),
            "y": 2 * base + 0.1 * rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "flag": rng.random(n) > 0.5,
        }
    )
    pdf.loc[rng.choice(n, 50, replace=False), "x"] = np.nan
    pdf.loc[7, "y"] = 40.0  # a planted outlier in y
    return pdf


@pytest.fixture(scope="module")
def mixed_result(mixed: pd.DataFrame):  # type: ignore[no-untyped-def]
    return anomaly_sample(
        mixed, k=10, hidden_layers=(12,), bottleneck=2, epochs=3, verbose=False, learning_rate=3e-3
    )


def test_contributions_sum_to_the_anomaly_score(mixed_result) -> None:  # type: ignore[no-untyped-def]
    contributions = mixed_result.explain()
    sample = mixed_result.sample
    columns = [c for c in contributions.columns if c != CODE_CONTRIBUTION]
    assert columns == mixed_result.sampler.feature_names_in_
    assert contributions.index.equals(sample.index)
    np.testing.assert_allclose(contributions.sum(axis=1), sample[SCORE_COLUMN], rtol=1e-5)
    assert (contributions.to_numpy() >= 0).all()


def test_one_hot_and_missing_indicators_are_summed_into_their_column(mixed_result) -> None:  # type: ignore[no-untyped-def]
    sampler = mixed_result.sampler
    assert "x__missing" in sampler.preprocessor_.feature_names_out_
    assert any(name.startswith("color=") for name in sampler.preprocessor_.feature_names_out_)
    assert set(mixed_result.explain().columns) - {CODE_CONTRIBUTION} == {"x", "y", "color", "flag"}


def test_the_planted_outlier_is_explained_by_its_column(mixed_result) -> None:  # type: ignore[no-untyped-def]
    assert mixed_result.sample.index[0] == 7
    columns = mixed_result.explain().drop(columns=CODE_CONTRIBUTION, errors="ignore")
    top = top_features(columns.head(1), n=1)[0][0]
    assert top[0] == "y" and top[2] > 0.5


def test_code_distance_part_only_when_scored(pdf: pd.DataFrame) -> None:
    if "code_weight" not in AutoencoderSampler._get_param_names():
        pytest.skip("this sampler scores by reconstruction only")
    for weight, members in ((0.0, 1), (0.5, 1), (0.5, 3)):
        sampler = make_sampler(epochs=1, code_weight=weight, n_members=members).fit(pdf)
        contributions = explain_rows(sampler, pdf.head(50))
        assert (CODE_CONTRIBUTION in contributions) == (weight > 0)
        scores = sampler.decision_function(pdf.head(50))
        np.testing.assert_allclose(contributions.sum(axis=1), scores, rtol=1e-5)


def test_dask_result_explains_the_same_rows(pdf: pd.DataFrame) -> None:
    sampler = make_sampler(epochs=2).fit(pdf)
    result = sampler.sample(dd.from_pandas(pdf, npartitions=4), k=5)
    contributions = result.explain()
    np.testing.assert_allclose(contributions.sum(axis=1), result.sample[SCORE_COLUMN], rtol=1e-5)
    direct = explain_rows(sampler, pdf.loc[[int(i) for i in result.sample["row_id"]]])
    np.testing.assert_allclose(direct.to_numpy(), contributions.to_numpy())


def test_explain_needs_a_fitted_sampler(pdf: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        explain_rows(AutoencoderSampler(), pdf)


def test_top_features_order_shares_and_text() -> None:
    contributions = pd.DataFrame({"a": [1.0, 0.0], "b": [3.0, 0.0], "c": [0.0, 0.0]})
    tops = top_features(contributions, n=2)
    assert tops[0] == [("b", 3.0, 0.75), ("a", 1.0, 0.25)]
    assert [t[2] for t in tops[1]] == [0.0, 0.0]  # a zero row gives zero shares, not NaN
    assert format_top_features(tops[0]) == "b 75%, a 25%"


def test_top_rows_table_and_json_records(mixed_result) -> None:  # type: ignore[no-untyped-def]
    contributions = mixed_result.explain()
    table = top_rows_table(mixed_result.sample, contributions, n_rows=4)
    assert list(table.columns[:3]) == [RANK_COLUMN, SCORE_COLUMN, "top_features"]
    assert len(table) == 4 and {"x", "y", "color", "flag"} <= set(table.columns)
    assert "y " in table["top_features"].iloc[0]
    records = explanation_records(mixed_result.sample, contributions, n_rows=3)
    assert json.loads(json.dumps(records)) == records
    assert [r["anomaly_rank"] for r in records] == [1, 2, 3]
    assert len(records[0]["top_features"]) == 3
