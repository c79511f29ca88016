"""Tabular preprocessing: column selection, imputation, scaling and one-hot encoding.

The preprocessor is fitted from :class:`~dask_anomaly.stats.FrameStats`, which the Dask layer
computes over every partition; :meth:`TabularPreprocessor.fit` does the same on one pandas frame.
:meth:`TabularPreprocessor.transform` maps one pandas partition to a float32 NumPy array.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._base import BaseEstimator, check_is_fitted
from ._fixedpoint import fraction_sqrt
from .config import DEFAULT_CLIP, DEFAULT_MAX_CATEGORIES, MAX_DISTINCT_VALUES, RESERVED_COLUMNS
from .exceptions import (
    DaskAnomalyWarning,
    EmptyDataError,
    NoFeatureColumnsError,
    SchemaMismatchError,
)
from .stats import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    ColumnStats,
    FrameStats,
    category_strings,
    check_numeric_dtype,
    frame_stats,
)

OTHER = "__other__"
MISSING = "__missing__"


@dataclass(frozen=True)
class NumericEncoding:
    """How one numeric or boolean column becomes model input."""

    name: str
    kind: str
    center: float
    scale: float
    fill: float
    has_missing: bool


@dataclass(frozen=True)
class CategoricalEncoding:
    """How one categorical column becomes one-hot model input."""

    name: str
    categories: tuple[str, ...]
    has_other: bool
    has_missing: bool


def column_kind(dtype: Any) -> str | None:
    """Return ``"numeric"``, ``"bool"``, ``"categorical"``, ``"datetime"`` or None (unsupported)."""
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return NUMERIC
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ):
        return CATEGORICAL
    return None


def check_frame_columns(columns: pd.Index) -> None:
    """Refuse duplicate column names and columns named like the library's outputs."""
    duplicated = sorted({str(c) for c in columns[columns.duplicated()]})
    if duplicated:
        raise ValueError(
            f"Column names must be unique, got duplicates {duplicated}; rename them first."
        )
    reserved = [c for c in RESERVED_COLUMNS if c in columns]
    if reserved:
        raise ValueError(
            f"Input columns {reserved} clash with the columns dask-anomaly adds; rename them."
        )


class TabularPreprocessor(BaseEstimator):
    """Impute, scale and one-hot encode a table into a float32 model input.

    Numeric columns are standardised with the mean and standard deviation of all rows, NaN is
    replaced by the mean, and a ``<col>__missing`` indicator is added for columns that had
    missing values. Infinite values are kept as extremes: after scaling, every numeric input is
    clipped to ``[-clip, clip]``. Booleans become 0/1. Categorical, object and string columns are
    one-hot encoded with the ``max_categories`` most frequent values; rarer and unseen values go to
    ``<col>=__other__``. Constant and all-missing columns are dropped; datetime and unsupported
    columns are left out with a warning.

    Parameters
    ----------
    columns : sequence of str or None, default=None
        Feature columns; None uses every column not in ``exclude``.
    exclude : sequence of str or None, default=None
        Columns never used as features (they still ride along in the outputs).
    max_categories : int, default=20
        Most frequent values kept per categorical column.
    clip : float, default=10.0
        Bound of the scaled numeric inputs, in standard deviations.

    Attributes
    ----------
    feature_names_in_ : list of str
        Input columns the model reads.
    n_features_in_ : int
        Their number.
    feature_names_out_ : list of str
        Names of the model's input features.
    feature_sources_ : list of str
        The input column behind each output feature.
    dropped_columns_ : dict of str to str
        Columns left out and why.
    n_rows_seen_ : int
        Rows the statistics were computed on.

    Examples
    --------
    >>> pdf = pd.DataFrame({"x": [1.0, 2.0, np.nan], "c": ["a", "b", "a"]})
    >>> pre = TabularPreprocessor().fit(pdf)
    >>> pre.feature_names_out_
    ['x', 'x__missing', 'c=a', 'c=b']
    >>> pre.transform(pdf).shape
    (3, 4)
    """

    def __init__(
        self,
        *,
        columns: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        clip: float = DEFAULT_CLIP,
    ) -> None:
        self.columns = columns
        self.exclude = exclude
        self.max_categories = max_categories
        self.clip = clip

    # ----------------------------------------------------------------- selection
    def _validate_params(self) -> None:
        if not isinstance(self.max_categories, int) or self.max_categories < 1:
            raise ValueError(
                f"max_categories must be a positive integer, got {self.max_categories!r}."
            )
        if not (isinstance(self.clip, (int, float)) and self.clip > 0):
            raise ValueError(f"clip must be a positive number, got {self.clip!r}.")
        for name in ("columns", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"{name} must be a list of column names, got the string {value!r}.")

    def select_columns(self, dtypes: pd.Series) -> tuple[dict[str, str], dict[str, str]]:
        """Choose feature columns from a frame's dtypes.

        Returns
        -------
        kinds : dict of str to str
            Feature column to kind.
        dropped : dict of str to str
            Column left out to the reason.
        """
        self._validate_params()
        check_frame_columns(dtypes.index)
        available = [str(c) for c in dtypes.index]
        for name in ("columns", "exclude"):
            wanted = list(getattr(self, name) or [])
            unknown = [c for c in wanted if c not in available]
            if unknown:
                raise ValueError(
                    f"{name} names {unknown}, which the data does not have; "
                    f"available columns are {available}."
                )
        chosen = list(self.columns) if self.columns is not None else available
        excluded = set(self.exclude or [])
        kinds: dict[str, str] = {}
        dropped: dict[str, str] = {}
        for name in chosen:
            if name in excluded:
                continue
            kind = column_kind(dtypes[name])
            if kind in (NUMERIC, BOOLEAN, CATEGORICAL):
                kinds[name] = kind
            else:
                dropped[name] = (
                    "datetime" if kind == "datetime" else f"unsupported dtype {dtypes[name]}"
                )
        if dropped:
            warnings.warn(
                f"Columns {sorted(dropped)} are left out of the model "
                f"({'; '.join(f'{k}: {v}' for k, v in sorted(dropped.items()))}); "
                "convert them to numbers or pass exclude= to silence this.",
                DaskAnomalyWarning,
                stacklevel=3,
            )
        if not kinds:
            raise NoFeatureColumnsError(
                f"No usable feature column among {chosen}; the model needs numeric, boolean or "
                "categorical columns (check columns= and exclude=)."
            )
        return kinds, dropped

    # ----------------------------------------------------------------- fitting
    def fit(self, X: pd.DataFrame, y: object = None) -> TabularPreprocessor:
        """Fit on one in-memory pandas frame; returns ``self``."""
        kinds, dropped = self.select_columns(X.dtypes)
        return self.fit_from_stats(frame_stats(X, kinds), dropped=dropped)

    def fit_from_stats(
        self, stats: FrameStats, *, dropped: dict[str, str] | None = None
    ) -> TabularPreprocessor:
        """Fit from statistics computed over all rows (see :mod:`dask_anomaly.stats`).

        Raises
        ------
        NoFeatureColumnsError
            If every selected column turns out constant or empty.
        """
        self._validate_params()
        if stats.n_rows == 0:
            raise EmptyDataError("X has no rows; fit needs data.")
        dropped = dict(dropped or {})
        numeric: list[NumericEncoding] = []
        categorical: list[CategoricalEncoding] = []
        for name, col in stats.columns.items():
            if col.kind == CATEGORICAL:
                encoding = self._fit_categorical(name, col)
                if encoding is None:
                    dropped[name] = "constant" if col.count else "all missing"
                else:
                    categorical.append(encoding)
            else:
                num = _fit_numeric(name, col)
                if num is None:
                    dropped[name] = "constant" if col.count else "all missing"
                else:
                    numeric.append(num)
        if not numeric and not categorical:
            raise NoFeatureColumnsError(
                f"Every feature column is constant or empty ({dropped}); nothing is left to model."
            )
        self.numeric_ = numeric
        self.categorical_ = categorical
        self.dropped_columns_ = dropped
        self.n_rows_seen_ = stats.n_rows
        self._set_feature_names()
        return self

    def _fit_categorical(self, name: str, col: ColumnStats) -> CategoricalEncoding | None:
        if len(col.counts) > MAX_DISTINCT_VALUES:
            raise ValueError(
                f"Column {name!r} has {len(col.counts)} distinct values (more than "
                f"{MAX_DISTINCT_VALUES}); it looks like an identifier, pass exclude=[{name!r}]."
            )
        if len(col.counts) + (col.n_missing > 0) < 2:
            return None
        ranked = sorted(col.counts.items(), key=lambda item: (-item[1], item[0]))
        kept = tuple(value for value, _ in ranked[: self.max_categories])
        return CategoricalEncoding(
            name=name,
            categories=kept,
            has_other=len(ranked) > len(kept),
            has_missing=col.n_missing > 0,
        )

    def _set_feature_names(self) -> None:
        """Derive feature names, sources and the vectorised transform's arrays.

        Layout: the numeric/boolean values, then their missing indicators, then one-hot blocks.
        """
        numeric = self.numeric_
        flagged = [num for num in numeric if num.has_missing]
        names = [num.name for num in numeric] + [f"{num.name}__missing" for num in flagged]
        sources = [num.name for num in numeric] + [num.name for num in flagged]
        for cat in self.categorical_:
            levels = list(cat.categories)
            levels += [OTHER] if cat.has_other else []
            levels += [MISSING] if cat.has_missing else []
            names.extend(f"{cat.name}={level}" for level in levels)
            sources.extend([cat.name] * len(levels))
        self.feature_names_out_ = names
        self.feature_sources_ = sources
        self.feature_names_in_ = [c.name for c in self.numeric_] + [
            c.name for c in self.categorical_
        ]
        self.n_features_in_ = len(self.feature_names_in_)
        self._centers = np.array([num.center for num in numeric], dtype=np.float64)
        self._scales = np.array([num.scale for num in numeric], dtype=np.float64)
        self._fills = np.array([num.fill for num in numeric], dtype=np.float64)
        self._flagged = np.array([num.has_missing for num in numeric], dtype=bool)

    # ----------------------------------------------------------------- transform
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Return the model input of a pandas frame as a C-contiguous float32 array.

        Raises
        ------
        SchemaMismatchError
            If a fitted column is missing or changed kind.
        """
        check_is_fitted(self, "numeric_")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise SchemaMismatchError(
                f"X has columns {list(map(str, X.columns))} but the model was fitted on "
                f"{self.feature_names_in_}; missing {missing}."
            )
        out = np.empty((len(X), len(self.feature_names_out_)), dtype=np.float32)
        j = self._transform_numeric(X, out) if self.numeric_ else 0
        for cat in self.categorical_:
            j = _transform_categorical(X[cat.name], cat, out, j)
        return out

    def _transform_numeric(self, X: pd.DataFrame, out: np.ndarray) -> int:
        """Scale, impute and clip all numeric columns into ``out``; return the next column."""
        names = [num.name for num in self.numeric_]
        for num in self.numeric_:
            check_numeric_dtype(X[num.name].dtype, num.name, num.kind)
        m = len(names)
        # all-float32 inputs are scaled in float32, straight into ``out``; others in float64
        single = all(X[name].dtype == np.float32 for name in names)
        work = np.float32 if single else np.float64
        source = X[names].to_numpy(dtype=work, na_value=np.nan)  # may be a view: never written
        missing = np.isnan(source)
        block = out[:, :m] if single else np.empty(source.shape, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            np.subtract(source, self._centers.astype(work), out=block)
            block /= self._scales.astype(work)
        np.copyto(block, np.broadcast_to(self._fills.astype(work), block.shape), where=missing)
        np.clip(block, -self.clip, self.clip, out=block)
        if not single:
            out[:, :m] = block
        flagged = int(self._flagged.sum())
        if flagged:
            out[:, m : m + flagged] = missing[:, self._flagged]
        return m + flagged

    # ----------------------------------------------------------------- persistence
    def fitted_state(self) -> dict[str, Any]:
        """Return the fitted state as JSON-compatible data."""
        check_is_fitted(self, "numeric_")
        return {
            "numeric": [asdict(n) for n in self.numeric_],
            "categorical": [
                {**asdict(c), "categories": list(c.categories)} for c in self.categorical_
            ],
            "dropped_columns": self.dropped_columns_,
            "n_rows_seen": self.n_rows_seen_,
        }

    def load_fitted_state(self, state: dict[str, Any]) -> TabularPreprocessor:
        """Restore the state returned by :meth:`fitted_state`; returns ``self``."""
        self.numeric_ = [NumericEncoding(**n) for n in state["numeric"]]
        self.categorical_ = [
            CategoricalEncoding(**{**c, "categories": tuple(c["categories"])})
            for c in state["categorical"]
        ]
        self.dropped_columns_ = dict(state["dropped_columns"])
        self.n_rows_seen_ = int(state["n_rows_seen"])
        self._set_feature_names()
        return self


def _fit_numeric(name: str, col: ColumnStats) -> NumericEncoding | None:
    """Return the encoding of a numeric/boolean column, or None when it carries no information."""
    has_missing = col.n_missing > 0
    if col.count == 0 and col.n_inf == 0:
        return None  # all missing
    if col.count and col.minimum == col.maximum and not has_missing and col.n_inf == 0:
        return None  # constant
    if col.count:
        mean_fraction = col.total / col.count
        variance = col.total_sq / col.count - mean_fraction * mean_fraction
        mean = float(mean_fraction)
        std = fraction_sqrt(variance) if variance > 0 else 0.0
    else:
        mean, std = 0.0, 0.0
    scale = std if np.isfinite(std) and std > 0 else 1.0
    if col.kind == BOOLEAN:
        return NumericEncoding(name, BOOLEAN, 0.0, 1.0, mean, has_missing)
    return NumericEncoding(name, NUMERIC, mean, scale, 0.0, has_missing)


def _transform_categorical(
    series: pd.Series, cat: CategoricalEncoding, out: np.ndarray, j: int
) -> int:
    width = len(cat.categories) + cat.has_other + cat.has_missing
    block = out[:, j : j + width]
    block[:] = 0.0
    missing, strings = category_strings(series, cat.name)
    codes = pd.Index(cat.categories, dtype=object).get_indexer(strings)
    if cat.has_other:
        codes[codes < 0] = len(cat.categories)
    rows = np.flatnonzero(~missing)
    known = codes >= 0
    block[rows[known], codes[known]] = 1.0
    if cat.has_missing:
        block[missing, width - 1] = 1.0
    return j + width
