"""Per-partition column statistics and their exact combination.

:func:`partition_stats` runs on one pandas partition; :func:`combine_stats` merges any number of
partial results. Sums are exact (see :mod:`dask_anomaly._exact`), so the fitted preprocessing is
the same however the rows are partitioned.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from ._exact import exact_sum, exact_sum_of_squares
from .exceptions import SchemaMismatchError

NUMERIC = "numeric"
BOOLEAN = "bool"
CATEGORICAL = "categorical"


@dataclass
class ColumnStats:
    """Partial statistics of one column over some rows.

    Attributes
    ----------
    kind : str
        ``"numeric"``, ``"bool"`` or ``"categorical"``.
    count : int
        Finite (numeric) or non-missing (categorical) values.
    n_missing : int
        Missing values (NaN, None, NA).
    n_inf : int
        Infinite values (numeric only).
    total, total_sq : fractions.Fraction
        Exact sum and sum of squares of the finite values.
    minimum, maximum : float
        Extremes of the finite values (``inf``/``-inf`` when there are none).
    counts : collections.Counter
        Occurrences of each value's string form (categorical only).
    """

    kind: str
    count: int = 0
    n_missing: int = 0
    n_inf: int = 0
    total: Fraction = Fraction(0)
    total_sq: Fraction = Fraction(0)
    minimum: float = np.inf
    maximum: float = -np.inf
    counts: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ColumnStats, name: str) -> ColumnStats:
        """Return the statistics of both row sets together."""
        if other.kind != self.kind:
            raise SchemaMismatchError(
                f"Column {name!r} is {self.kind} in one partition and {other.kind} in another; "
                "cast it to one dtype in every file (schema drift)."
            )
        return ColumnStats(
            kind=self.kind,
            count=self.count + other.count,
            n_missing=self.n_missing + other.n_missing,
            n_inf=self.n_inf + other.n_inf,
            total=self.total + other.total,
            total_sq=self.total_sq + other.total_sq,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            counts=self.counts + other.counts,
        )


@dataclass
class FrameStats:
    """Statistics of every selected column plus the row count."""

    n_rows: int
    columns: dict[str, ColumnStats]


def numeric_values(series: pd.Series, name: str, kind: str) -> np.ndarray:
    """Return a numeric or boolean column as float64 with NaN for missing values.

    Raises
    ------
    SchemaMismatchError
        If the column's dtype does not match ``kind`` (for example strings in a numeric column).
    """
    check_numeric_dtype(series.dtype, name, kind)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def check_numeric_dtype(dtype: object, name: str, kind: str) -> None:
    """Raise :class:`SchemaMismatchError` unless ``dtype`` is numeric or boolean."""
    ok = pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    )
    if not ok:
        raise SchemaMismatchError(
            f"Column {name!r} was {kind} when the model was fitted but has dtype {dtype} here; "
            "cast it back to a numeric dtype (schema drift between files?)."
        )


def category_strings(series: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(missing_mask, strings)`` for a categorical column; strings of non-missing values.

    Values are compared by their string form, so an object column mixing ``1`` and ``"a"`` has
    the categories ``"1"`` and ``"a"``.

    Raises
    ------
    SchemaMismatchError
        If the column arrives with a numeric, boolean or datetime dtype.
    """
    dtype = series.dtype
    if not (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ):
        raise SchemaMismatchError(
            f"Column {name!r} was categorical when the model was fitted but has dtype {dtype} "
            "here; cast it with .astype(str) in every file (schema drift between files?)."
        )
    missing = series.isna().to_numpy()
    strings = series[~missing].astype(str).to_numpy(dtype=object)
    return missing, strings


def _numeric_column_stats(series: pd.Series, name: str, kind: str) -> ColumnStats:
    values = numeric_values(series, name, kind)
    finite = np.isfinite(values)
    n_missing = int(np.isnan(values).sum())
    good = values[finite]
    return ColumnStats(
        kind=kind,
        count=int(good.size),
        n_missing=n_missing,
        n_inf=int(values.size - good.size - n_missing),
        total=exact_sum(good),
        total_sq=exact_sum_of_squares(good),
        minimum=float(good.min()) if good.size else np.inf,
        maximum=float(good.max()) if good.size else -np.inf,
    )


def _categorical_column_stats(series: pd.Series, name: str) -> ColumnStats:
    missing, strings = category_strings(series, name)
    counts = Counter(pd.Series(strings, dtype=object).value_counts(sort=False).to_dict())
    return ColumnStats(
        kind=CATEGORICAL, count=int(strings.size), n_missing=int(missing.sum()), counts=counts
    )


def partition_stats(part: pd.DataFrame, kinds: dict[str, str]) -> FrameStats:
    """Compute the statistics of the ``kinds`` columns of one pandas partition.

    Parameters
    ----------
    part : pandas.DataFrame
        One partition (or a whole in-memory frame).
    kinds : dict of str to str
        Column name to ``"numeric"``, ``"bool"`` or ``"categorical"``.

    Returns
    -------
    FrameStats

    Examples
    --------
    >>> s = partition_stats(pd.DataFrame({"a": [1.0, 3.0]}), {"a": "numeric"})
    >>> s.n_rows, float(s.columns["a"].total)
    (2, 4.0)
    """
    columns = {}
    for name, kind in kinds.items():
        if name not in part.columns:
            raise SchemaMismatchError(
                f"Column {name!r} is missing from a partition; every file must have it."
            )
        series = part[name]
        if kind == CATEGORICAL:
            columns[name] = _categorical_column_stats(series, name)
        else:
            columns[name] = _numeric_column_stats(series, name, kind)
    return FrameStats(n_rows=len(part), columns=columns)


def combine_stats(parts: list[FrameStats]) -> FrameStats:
    """Merge partial statistics exactly; the order of ``parts`` does not matter.

    Examples
    --------
    >>> a = partition_stats(pd.DataFrame({"a": [1.0]}), {"a": "numeric"})
    >>> b = partition_stats(pd.DataFrame({"a": [2.0]}), {"a": "numeric"})
    >>> combine_stats([a, b]).columns["a"].count
    2
    """
    if not parts:
        raise ValueError("combine_stats needs at least one partial result.")
    n_rows = sum(p.n_rows for p in parts)
    columns = dict(parts[0].columns)
    for part in parts[1:]:
        for name, stats in part.columns.items():
            columns[name] = columns[name].merge(stats, name) if name in columns else stats
    return FrameStats(n_rows=n_rows, columns=columns)
