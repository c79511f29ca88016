"""Exact sums of float64 arrays, so that fitted statistics do not depend on partitioning.

Floating-point sums depend on the order of additions, so a mean computed over 3 partitions can
differ in the last bit from the same mean over 7 partitions. Here each value is split into an
integer mantissa and a power of two; integer mantissas are summed exactly per exponent and
returned as a :class:`fractions.Fraction`. Fractions combine exactly, in any order.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

_HALF_BITS = 26
_MANTISSA_BITS = 53


def exact_sum(values: np.ndarray, exponent_offset: np.ndarray | None = None) -> Fraction:
    """Return the exact sum of ``values * 2**exponent_offset`` as a Fraction.

    Parameters
    ----------
    values : numpy.ndarray
        Finite float64 values.
    exponent_offset : numpy.ndarray or None, default=None
        Integer powers of two multiplying each value (used for exact squares).

    Returns
    -------
    fractions.Fraction
        The exact sum.

    Examples
    --------
    >>> float(exact_sum(np.array([1e16, 1.0, -1e16])))
    1.0
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return Fraction(0)
    mantissa, exponent = np.frexp(values)
    ints = (mantissa * float(2**_MANTISSA_BITS)).astype(np.int64)  # exact: 53-bit integers
    exponent = exponent.astype(np.int64) - _MANTISSA_BITS
    if exponent_offset is not None:
        exponent = exponent + np.asarray(exponent_offset, dtype=np.int64).ravel()
    high = ints >> _HALF_BITS
    low = ints & ((1 << _HALF_BITS) - 1)
    lowest = int(exponent.min())
    inverse = exponent - lowest
    n_levels = int(inverse.max()) + 1
    total = Fraction(0)
    # Chunks keep every per-level float64 sum of 27-bit integers below 2**53, hence exact.
    chunk = 1 << 25
    for start in range(0, values.size, chunk):
        inv = inverse[start : start + chunk]
        high_sums = np.bincount(inv, weights=high[start : start + chunk], minlength=n_levels)
        low_sums = np.bincount(inv, weights=low[start : start + chunk], minlength=n_levels)
        for level in np.flatnonzero(high_sums + low_sums != 0).tolist():
            integer = (int(high_sums[level]) << _HALF_BITS) + int(low_sums[level])
            total += integer * Fraction(2) ** (level + lowest)
    return total


def exact_sum_of_squares(values: np.ndarray) -> Fraction:
    """Return the exact sum of squares of finite float64 ``values``, without overflow.

    Each value is written ``m * 2**e`` with ``0.5 <= |m| < 1``; ``m`` is split into two halves
    (Veltkamp) so that ``m**2`` is the exact sum of three float64 products.

    Examples
    --------
    >>> float(exact_sum_of_squares(np.array([3.0, 4.0])))
    25.0
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return Fraction(0)
    mantissa, exponent = np.frexp(values)
    scaled = mantissa * 134217729.0  # 2**27 + 1
    high = scaled - (scaled - mantissa)
    low = mantissa - high
    offset = 2 * exponent.astype(np.int64)
    return (
        exact_sum(high * high, offset)
        + exact_sum(2.0 * high * low, offset)
        + exact_sum(low * low, offset)
    )


def fraction_sqrt(value: Fraction) -> float:
    """Return ``sqrt(value)`` as a float, for values far beyond float64's range.

    Examples
    --------
    >>> fraction_sqrt(Fraction(10) ** 600)
    1e+300
    """
    if value <= 0:
        return 0.0
    p, q = value.numerator, value.denominator
    shift = 64 - (p.bit_length() - q.bit_length()) // 2  # about 64 significant bits in the root
    if shift >= 0:
        root = math.isqrt((p << (2 * shift)) // q)
    else:
        root = math.isqrt(p // (q << (-2 * shift)))
    return math.ldexp(float(root), -shift)
