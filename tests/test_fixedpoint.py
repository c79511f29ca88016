"""Fixed-point sums: partition-independent and accurate."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dask_anomaly._fixedpoint import (
    fraction_sqrt,
    grid_bits,
    grid_exponents,
    limbs_to_fraction,
    quantized_sums,
)
from dask_anomaly.stats import (
    SumGrid,
    combine_stats,
    combine_sums,
    finish_stats,
    frame_stats,
    partition_stats,
    partition_sums,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def sums_of(values: np.ndarray, exponent: int, bits: int) -> tuple[Fraction, Fraction]:
    h, lo, h2, lo2 = quantized_sums(values.reshape(-1, 1), np.array([exponent]), bits)
    return (
        limbs_to_fraction(h[0], lo[0], exponent, bits),
        limbs_to_fraction(h2[0], lo2[0], 2 * exponent, bits),
    )


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=finite), st.integers(0, 60))
# found by hypothesis: a small negative value next to a huge one lost 32 grid units
@example(np.array([-3.37348948e253, 2.90432993e281]), 0)
def test_split_independent_and_accurate(values: np.ndarray, cut: int) -> None:
    exponent = int(grid_exponents(np.array([np.abs(values).max()]))[0])
    bits = grid_bits(len(values))
    total, total_sq = sums_of(values, exponent, bits)
    a, a2 = sums_of(values[:cut], exponent, bits)
    b, b2 = sums_of(values[cut:], exponent, bits)
    assert a + b == total and a2 + b2 == total_sq  # same totals however the rows are split
    exact = sum((Fraction(v) for v in values.tolist()), Fraction(0))
    scale = Fraction(2) ** exponent
    # each value is rounded on a grid of 2**(exponent - 2 * bits): under two units per value
    assert abs(total - exact) <= 2 * len(values) * scale / Fraction(2) ** (2 * bits)


def test_grid_helpers() -> None:
    assert grid_bits(1) == 60 and grid_bits(2**40) == 20
    np.testing.assert_array_equal(grid_exponents(np.array([0.0, 1.0, 3.0, 0.5])), [0, 1, 2, 0])


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e6, 1e6)),
    st.lists(st.integers(1, 20), min_size=1, max_size=5),
)
def test_frame_statistics_equal_for_any_partitioning(values: np.ndarray, cuts: list[int]) -> None:
    pdf = pd.DataFrame({"x": values, "y": values[::-1].copy()})
    kinds = {"x": "numeric", "y": "numeric"}
    whole = frame_stats(pdf, kinds)
    bounds = sorted({c for c in np.cumsum(cuts) if c < len(pdf)})
    edges = [0, *bounds, len(pdf)]
    parts = [pdf.iloc[a:b] for a, b in zip(edges[:-1], edges[1:], strict=False)]
    first = combine_stats([partition_stats(p, kinds) for p in parts])
    grid = SumGrid.from_stats(first)
    got = finish_stats(first, grid, combine_sums([partition_sums(p, grid) for p in parts]))
    assert got == whole
    exact = sum((Fraction(v) for v in values.tolist()), Fraction(0))
    assert math.isclose(float(got.columns["x"].total), float(exact), rel_tol=1e-12, abs_tol=1e-6)


def test_fraction_sqrt_handles_huge_and_tiny_values() -> None:
    assert fraction_sqrt(Fraction(10) ** 600) == 1e300
    assert math.isclose(fraction_sqrt(Fraction(1, 10**600)), 1e-300)
    assert fraction_sqrt(Fraction(0)) == 0.0
