"""Exact sums: order-independent and correct."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dask_anomaly._exact import exact_sum, exact_sum_of_squares, fraction_sqrt

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 60), elements=finite), st.integers(0, 60))
def test_exact_sum_is_exact_and_split_independent(values: np.ndarray, cut: int) -> None:
    expected = sum((Fraction(v) for v in values.tolist()), Fraction(0))
    assert exact_sum(values) == expected
    assert exact_sum(values[:cut]) + exact_sum(values[cut:]) == expected


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 40), elements=finite))
def test_exact_sum_of_squares_is_exact(values: np.ndarray) -> None:
    expected = sum((Fraction(v) ** 2 for v in values.tolist()), Fraction(0))
    assert exact_sum_of_squares(values) == expected


def test_exact_sum_matches_fsum_on_cancellation() -> None:
    values = np.array([1e100, 1.0, -1e100, 1e-300])
    assert float(exact_sum(values)) == math.fsum(values.tolist())


def test_fraction_sqrt_handles_huge_and_tiny_values() -> None:
    assert fraction_sqrt(Fraction(10) ** 600) == 1e300
    assert math.isclose(fraction_sqrt(Fraction(1, 10**600)), 1e-300)
    assert fraction_sqrt(Fraction(0)) == 0.0
