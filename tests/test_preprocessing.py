"""TabularPreprocessor on pandas, and fitted over Dask partitions."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask import delayed

from dask_anomaly import DaskAnomalyWarning, NoFeatureColumnsError, SchemaMismatchError
from dask_anomaly.parallel import fit_preprocessor
from dask_anomaly.preprocessing import TabularPreprocessor


@pytest.fixture
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(10, 3, n)
    x[::17] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(0, 100, n),
            "flag": rng.random(n) > 0.5,
            "const": 7.0,
            "color": rng.choice(["red", "green", "blue", "teal"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "cat": pd.Categorical(rng.choice(["a", "b"], n)),
        }
    )


def test_numeric_standardised_and_imputed(mixed: pd.DataFrame) -> None:
    pre = TabularPreprocessor().fit(mixed)
    X = pre.transform(mixed)
    names = pre.feature_names_out_
    col = X[:, names.index("x")]
    present = mixed["x"].notna().to_numpy()
    expected = (mixed["x"] - mixed["x"].mean()) / mixed["x"].std(ddof=0)
    np.testing.assert_allclose(col[present], expected[present], rtol=1e-5)
    assert np.all(col[~present] == 0.0)  # imputed with the centre
    np.testing.assert_array_equal(X[:, names.index("x__missing")], (~present).astype("float32"))
    assert "i__missing" not in names  # no indicator for a column without missing values


def test_constant_dropped_booleans_and_onehot(mixed: pd.DataFrame) -> None:
    pre = TabularPreprocessor(max_categories=2).fit(mixed)
    assert pre.dropped_columns_ == {"const": "constant"}
    assert "const" not in pre.feature_names_in_
    X = pre.transform(mixed)
    names = pre.feature_names_out_
    np.testing.assert_array_equal(X[:, names.index("flag")], mixed["flag"].astype("float32"))
    color = [n for n in names if n.startswith("color=")]
    assert color == ["color=red", "color=green", "color=__other__"]  # two most frequent + other
    block = X[:, [names.index(n) for n in color]]
    np.testing.assert_array_equal(block.sum(axis=1), 1.0)
    other = mixed["color"].isin(["blue", "teal"]).to_numpy()
    np.testing.assert_array_equal(block[:, 2] == 1.0, other)
    assert X.dtype == np.float32 and X.flags.c_contiguous


def test_unseen_category_goes_to_other(mixed: pd.DataFrame) -> None:
    pre = TabularPreprocessor(max_categories=2).fit(mixed)
    new = mixed.head(3).copy()
    new["color"] = ["purple", "red", None]
    X = pre.transform(new)
    names = pre.feature_names_out_
    assert X[0, names.index("color=__other__")] == 1.0
    assert X[1, names.index("color=red")] == 1.0
    assert X[2, [names.index(n) for n in names if n.startswith("color=")]].sum() == 0.0


def test_categorical_missing_gets_its_own_feature() -> None:
    pdf = pd.DataFrame({"c": ["a", None, "b", "a"], "x": [1.0, 2.0, 3.0, 4.0]})
    pre = TabularPreprocessor().fit(pdf)
    assert "c=__missing__" in pre.feature_names_out_
    X = pre.transform(pdf)
    assert X[1, pre.feature_names_out_.index("c=__missing__")] == 1.0


def test_datetime_left_out_with_warning() -> None:
    pdf = pd.DataFrame({"t": pd.date_range("2020", periods=5), "x": np.arange(5.0)})
    with pytest.warns(DaskAnomalyWarning, match=r"\['t'\].*datetime"):
        pre = TabularPreprocessor().fit(pdf)
    assert pre.feature_names_in_ == ["x"]
    assert pre.dropped_columns_ == {"t": "datetime"}


def test_columns_and_exclude(mixed: pd.DataFrame) -> None:
    assert TabularPreprocessor(columns=["x", "i"]).fit(mixed).feature_names_in_ == ["x", "i"]
    pre = TabularPreprocessor(exclude=["color", "cat", "const"]).fit(mixed)
    assert pre.feature_names_in_ == ["x", "i", "flag"]
    with pytest.raises(ValueError, match=r"columns names \['nope'\]"):
        TabularPreprocessor(columns=["nope"]).fit(mixed)
    with pytest.raises(TypeError, match="exclude must be a list"):
        TabularPreprocessor(exclude="x").fit(mixed)


def test_no_usable_columns() -> None:
    with pytest.raises(NoFeatureColumnsError, match="No usable feature column"):
        TabularPreprocessor(columns=[]).fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(NoFeatureColumnsError, match="constant or empty"):
        TabularPreprocessor().fit(pd.DataFrame({"x": [1.0, 1.0], "y": [np.nan, np.nan]}))


def test_infinite_values_are_clipped_extremes() -> None:
    pdf = pd.DataFrame({"x": [0.0, 1.0, 2.0, np.inf, -np.inf, 1e300]})
    pre = TabularPreprocessor(clip=5.0).fit(pdf.iloc[:5])
    X = pre.transform(pdf)
    assert np.isfinite(X).all()
    assert X[3, 0] == 5.0 and X[4, 0] == -5.0 and X[5, 0] == 5.0


def test_transform_refuses_missing_or_changed_columns(mixed: pd.DataFrame) -> None:
    pre = TabularPreprocessor().fit(mixed)
    with pytest.raises(SchemaMismatchError, match=r"missing \['x'\]"):
        pre.transform(mixed.drop(columns="x"))
    changed = mixed.assign(i=mixed["i"].astype(str))
    with pytest.raises(SchemaMismatchError, match="'i' was numeric"):
        pre.transform(changed)


def test_duplicate_and_reserved_columns_refused() -> None:
    dup = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(ValueError, match=r"unique.*\['a'\]"):
        TabularPreprocessor().fit(dup)
    with pytest.raises(ValueError, match="anomaly_score"):
        TabularPreprocessor().fit(pd.DataFrame({"anomaly_score": [1.0, 2.0]}))


@pytest.mark.parametrize("npartitions", [1, 3, 7])
def test_dask_fit_equals_pandas_fit_exactly(mixed: pd.DataFrame, npartitions: int) -> None:
    local = TabularPreprocessor(max_categories=3).fit(mixed)
    ddf = dd.from_pandas(mixed, npartitions=npartitions)
    distributed_fit, n_parts = fit_preprocessor(ddf, TabularPreprocessor(max_categories=3))
    assert n_parts == npartitions
    assert distributed_fit.fitted_state() == local.fitted_state()
    np.testing.assert_array_equal(distributed_fit.transform(mixed), local.transform(mixed))


def test_schema_drift_between_partitions_is_refused() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0], "y": [1, 2]})
    b = pd.DataFrame({"x": ["p", "q"], "y": [3, 4]}, index=[2, 3])
    # as read_parquet does with files whose schemas differ: the meta comes from the first file
    ddf = dd.from_delayed([delayed(a), delayed(b)], meta=a.iloc[:0], verify_meta=False)
    with pytest.raises(SchemaMismatchError, match="'x'"):
        fit_preprocessor(ddf, TabularPreprocessor())


def test_fitted_state_round_trip(mixed: pd.DataFrame) -> None:
    pre = TabularPreprocessor().fit(mixed)
    restored = TabularPreprocessor().load_fitted_state(pre.fitted_state())
    np.testing.assert_array_equal(restored.transform(mixed), pre.transform(mixed))
    assert restored.feature_sources_ == pre.feature_sources_
