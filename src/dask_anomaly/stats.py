"""Per-partition column statistics and their partition-independent combination.

Fitting takes two cheap passes. :func:`partition_stats` counts values, missing and infinite
entries, extremes and category frequencies; :func:`combine_stats` merges partial results. The
global extremes and row count then fix a fixed-point grid per column (:class:`SumGrid`), and
:func:`partition_sums` / :func:`combine_sums` add the values and their squares on that grid with
integer arithmetic (see :mod:`dask_anomaly._fixedpoint`). The fitted statistics are therefore
identical however the rows are partitioned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from ._fixedpoint import grid_bits, grid_exponents, limbs_to_fraction, quantized_sums
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


def _numeric_block(part: pd.DataFrame, names: list[str], kinds: dict[str, str]) -> np.ndarray:
    """The numeric/boolean columns ``names`` of ``part`` as one float64 block (NaN = missing)."""
    for name in names:
        check_numeric_dtype(part[name].dtype, name, kinds[name])
    return part[names].to_numpy(dtype=np.float64, na_value=np.nan).reshape(len(part), len(names))


def _numeric_stats(
    part: pd.DataFrame, names: list[str], kinds: dict[str, str]
) -> dict[str, ColumnStats]:
    """Counts and finite extremes of all numeric columns at once (no sums: see partition_sums)."""
    block = _numeric_block(part, names, kinds)
    finite = np.isfinite(block)
    missing = np.isnan(block).sum(axis=0)
    count = finite.sum(axis=0)
    minimum = np.where(finite, block, np.inf).min(axis=0, initial=np.inf)
    maximum = np.where(finite, block, -np.inf).max(axis=0, initial=-np.inf)
    return {
        name: ColumnStats(
            kind=kinds[name],
            count=int(count[j]),
            n_missing=int(missing[j]),
            n_inf=int(len(block) - count[j] - missing[j]),
            minimum=float(minimum[j]),
            maximum=float(maximum[j]),
        )
        for j, name in enumerate(names)
    }


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
    >>> s = partition_stats(pd.DataFrame({"a": [1.0, 3.0, np.nan]}), {"a": "numeric"})
    >>> s.n_rows, s.columns["a"].count, s.columns["a"].n_missing, s.columns["a"].maximum
    (3, 2, 1, 3.0)
    """
    _check_present(part, kinds)
    numeric = [name for name, kind in kinds.items() if kind != CATEGORICAL]
    columns = _numeric_stats(part, numeric, kinds) if numeric else {}
    for name, kind in kinds.items():
        if kind == CATEGORICAL:
            columns[name] = _categorical_column_stats(part[name], name)
    return FrameStats(n_rows=len(part), columns={name: columns[name] for name in kinds})


def _check_present(part: pd.DataFrame, names: Iterable[str]) -> None:
    absent = [name for name in names if name not in part.columns]
    if absent:
        raise SchemaMismatchError(
            f"Columns {absent} are missing from a partition; every file must have them."
        )


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


@dataclass(frozen=True)
class SumGrid:
    """The fixed-point grid of every numeric column, from the first pass's global statistics."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    exponents: tuple[int, ...]
    bits: int

    @classmethod
    def from_stats(cls, stats: FrameStats) -> SumGrid:
        """Derive the grid from combined first-pass statistics."""
        numeric = [(n, c) for n, c in stats.columns.items() if c.kind != CATEGORICAL]
        max_abs = [max(abs(c.minimum), abs(c.maximum)) if c.count else 0.0 for _, c in numeric]
        return cls(
            names=tuple(n for n, _ in numeric),
            kinds=tuple(c.kind for _, c in numeric),
            exponents=tuple(int(e) for e in grid_exponents(np.array(max_abs, dtype=np.float64))),
            bits=grid_bits(max(stats.n_rows, 1)),
        )


@dataclass
class PartialSums:
    """Integer limb sums of values and squares per numeric column (see _fixedpoint)."""

    sum_high: list[int]
    sum_low: list[int]
    square_high: list[int]
    square_low: list[int]


def partition_sums(part: pd.DataFrame, grid: SumGrid) -> PartialSums:
    """Sum the finite values and their squares of one partition on the global ``grid``."""
    names = list(grid.names)
    if not names:
        return PartialSums([], [], [], [])
    _check_present(part, names)
    block = _numeric_block(part, names, dict(zip(grid.names, grid.kinds, strict=False)))
    block = np.where(np.isfinite(block), block, 0.0)  # missing and infinite values: not summed
    return PartialSums(*quantized_sums(block, np.array(grid.exponents, dtype=np.int64), grid.bits))


def combine_sums(parts: list[PartialSums]) -> PartialSums:
    """Add partial limb sums (exact integer arithmetic)."""
    return PartialSums(
        *[
            [sum(values) for values in zip(*(getattr(p, f) for p in parts), strict=False)]
            for f in ("sum_high", "sum_low", "square_high", "square_low")
        ]
    )


def finish_stats(stats: FrameStats, grid: SumGrid, sums: PartialSums) -> FrameStats:
    """Return ``stats`` with the exact totals of the grid-rounded values and squares filled in."""
    columns = dict(stats.columns)
    for j, (name, exponent) in enumerate(zip(grid.names, grid.exponents, strict=False)):
        col = columns[name]
        columns[name] = ColumnStats(
            **{
                **col.__dict__,
                "total": limbs_to_fraction(sums.sum_high[j], sums.sum_low[j], exponent, grid.bits),
                "total_sq": limbs_to_fraction(
                    sums.square_high[j], sums.square_low[j], 2 * exponent, grid.bits
                ),
            },
        )
    return FrameStats(n_rows=stats.n_rows, columns=columns)


def frame_stats(pdf: pd.DataFrame, kinds: dict[str, str]) -> FrameStats:
    """Both passes on one in-memory frame (the pandas counterpart of the Dask reductions).

    Examples
    --------
    >>> s = frame_stats(pd.DataFrame({"a": [1.0, 3.0]}), {"a": "numeric"})
    >>> float(s.columns["a"].total), float(s.columns["a"].total_sq)
    (4.0, 10.0)
    """
    first = partition_stats(pdf, kinds)
    grid = SumGrid.from_stats(first)
    return finish_stats(first, grid, partition_sums(pdf, grid))
