"""AutoencoderSampler: estimator conventions, parameter checks, the pandas path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dask_anomaly import (
    AutoencoderSampler,
    DaskAnomalyWarning,
    EmptyDataError,
    NotFittedError,
    anomaly_sample,
)
from dask_anomaly.config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.datasets import PLANTED_COLUMN

from .conftest import N_PLANTED, NON_FEATURES, make_sampler


def test_init_only_stores_parameters() -> None:
    sampler = AutoencoderSampler(epochs=-5, hidden_layers="bad")  # type: ignore[arg-type]
    assert sampler.epochs == -5 and sampler.hidden_layers == "bad"
    assert not hasattr(sampler, "module_")


def test_get_set_params_and_repr() -> None:
    sampler = AutoencoderSampler(epochs=3)
    params = sampler.get_params()
    assert params["epochs"] == 3 and params["batch_size"] == 512 and params["random_state"] == 0
    assert sampler.set_params(epochs=4, bottleneck=2) is sampler
    assert sampler.epochs == 4
    assert repr(sampler) == "AutoencoderSampler(bottleneck=2, epochs=4)"
    with pytest.raises(ValueError, match="Invalid parameter 'epoch'"):
        sampler.set_params(epoch=1)


def test_sklearn_clone_when_available() -> None:
    base = pytest.importorskip("sklearn.base")
    sampler = AutoencoderSampler(hidden_layers=(8, 4), epochs=2)
    clone = base.clone(sampler)
    assert clone is not sampler and clone.get_params() == sampler.get_params()


@pytest.mark.parametrize(
    "params,message",
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"train_rows": -1}, "train_rows must be a positive integer"),
        ({"hidden_layers": (8, 0)}, "hidden_layers must be a sequence of positive integers"),
        ({"hidden_layers": "64,32"}, "hidden_layers must be a sequence"),
        ({"bottleneck": 0}, "bottleneck must be a positive integer or None"),
        ({"learning_rate": 0}, "learning_rate must be a positive number"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, "dropout must be a number in"),
        ({"n_members": 0}, "n_members must be a positive integer, got 0"),
        ({"training": "online"}, "training must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"random_state": -1}, "random_state must be a non-negative integer"),
        ({"max_categories": 0}, "max_categories must be a positive integer"),
    ],
)
def test_bad_parameters_are_named(pdf: pd.DataFrame, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_sampler(**params).fit(pdf)


def test_bad_input_types(pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler) -> None:
    with pytest.raises(TypeError, match="X must be a pandas or Dask DataFrame, got ndarray"):
        make_sampler().fit(pdf.to_numpy())
    with pytest.raises(TypeError, match="got list"):
        fitted_sampler.decision_function([[1.0]])


def test_not_fitted(pdf: pd.DataFrame) -> None:
    sampler = make_sampler()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        sampler.decision_function(pdf)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        sampler.sample(pdf, k=3)


def test_fit_returns_self_and_sets_attributes(pdf: pd.DataFrame) -> None:
    sampler = make_sampler(epochs=2)
    assert sampler.fit(pdf) is sampler
    assert len(sampler.loss_history_) == 2
    assert sampler.feature_names_in_ == [f"f{j}" for j in range(8)] + ["segment"]
    assert sampler.n_features_in_ == 9
    assert sampler.n_train_rows_ == len(pdf) and sampler.n_rows_fit_ == len(pdf)
    assert sampler.hidden_layers_ == (64, 32) and sampler.bottleneck_ == 32


def test_explicit_architecture(pdf: pd.DataFrame) -> None:
    single = make_sampler(epochs=1, hidden_layers=[12], bottleneck=4).fit(pdf)
    assert single.module_.layer_widths == [10, 12, 4, 12, 10]
    trio = make_sampler(epochs=1, hidden_layers=[12], bottleneck=4, n_members=3).fit(pdf)
    assert trio.module_.member_widths == [10, 12, 4, 12, 10]
    assert trio.module_.layer_widths == [10, 36, 12, 36, 30]  # three members side by side
    assert trio.hidden_layers_ == (12,) and trio.bottleneck_ == 4


def test_pandas_decision_function_and_sample(
    pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    scores = fitted_sampler.decision_function(pdf)
    assert isinstance(scores, pd.Series) and scores.index.equals(pdf.index)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    result = fitted_sampler.sample(pdf, k=N_PLANTED)
    sample = result.sample
    assert list(sample[RANK_COLUMN]) == list(range(1, N_PLANTED + 1))
    assert sample[SCORE_COLUMN].is_monotonic_decreasing
    np.testing.assert_array_equal(sample[SCORE_COLUMN], scores.loc[sample.index])
    assert (
        isinstance(result.scored, pd.DataFrame)
        and result.scored[IN_SAMPLE_COLUMN].sum() == N_PLANTED
    )
    assert sample[PLANTED_COLUMN].mean() >= 0.9  # planted anomalies are found


def test_fraction_rounds_up(pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler) -> None:
    assert len(fitted_sampler.sample(pdf, fraction=0.001).sample) == 4  # ceil(4000 * 0.001)
    assert len(fitted_sampler.sample(pdf.head(7), fraction=0.1).sample) == 1


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({}, "exactly one of k and fraction, got neither"),
        ({"k": 3, "fraction": 0.1}, "exactly one of k and fraction, got both"),
        ({"k": 0}, "k must be a positive integer, got 0"),
        ({"k": 2.0}, "k must be a positive integer, got 2.0"),
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\], got 0.0"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\], got 1.5"),
    ],
)
def test_bad_sample_size(
    pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler, kwargs, message
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        fitted_sampler.sample(pdf, **kwargs)


def test_k_above_rows_gives_all_rows_with_warning(
    pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler
) -> None:
    with pytest.warns(DaskAnomalyWarning, match="k=50 is more than the 10 rows"):
        result = fitted_sampler.sample(pdf.head(10), k=50)
    assert len(result.sample) == 10


def test_empty_data(pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler) -> None:
    with pytest.raises(EmptyDataError, match="no rows"):
        make_sampler().fit(pdf.iloc[:0])
    with pytest.raises(EmptyDataError, match="no rows"):
        fitted_sampler.sample(pdf.iloc[:0], k=3)


def test_small_training_sample_is_flagged(pdf: pd.DataFrame) -> None:
    with pytest.warns(DaskAnomalyWarning, match="cannot separate normal from anomalous"):
        sampler = make_sampler(epochs=1, train_rows=50).fit(pdf)
    assert sampler.n_train_rows_ == 50
    result = sampler.sample(pdf, k=3)
    assert any("cannot separate" in w for w in result.report.warnings)


def test_anomaly_sample_one_call_and_pipe(pdf: pd.DataFrame) -> None:
    result = pdf.pipe(anomaly_sample, k=5, epochs=2, verbose=False, exclude=NON_FEATURES)
    assert len(result.sample) == 5 and result.sampler.epochs == 2
    with pytest.raises(ValueError, match="exactly one of k and fraction"):
        anomaly_sample(pdf, epochs=2)


def test_same_seed_same_scores_different_seed_differs(pdf: pd.DataFrame) -> None:
    a = make_sampler(epochs=2).fit(pdf).decision_function(pdf)
    b = make_sampler(epochs=2).fit(pdf).decision_function(pdf)
    c = make_sampler(epochs=2, random_state=1).fit(pdf).decision_function(pdf)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
