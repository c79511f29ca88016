"""Partition-independent sums: every value is rounded to a global fixed-point grid first.

A floating-point sum depends on the order of additions, so a mean computed over 3 partitions
can differ in the last bit from the same mean over 7. Here each value ``x`` of a column is
written on a grid fixed by the column's global maximum magnitude and the global row count
(known from a first, cheap pass): ``x ~ (hi * 2**bits + lo) * 2**(exponent - 2 * bits)`` with
``hi`` and ``lo`` int64. The rounding of a value depends only on the value and the grid, and
integer sums are exact, so the totals are the same however the rows are partitioned. With
``bits = 61 - ceil(log2(rows + 1))`` limbs, a column keeps ``2 * bits`` bits below its maximum
(82 bits for a million rows), far beyond float64's 53.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

#: Rows per chunk of the fixed-point loop (a few MB of float64 at typical widths).
_CHUNK_ROWS = 16_384


def grid_bits(n_rows: int) -> int:
    """Bits per limb such that ``n_rows`` limbs of ``2**bits`` sum inside int64.

    Examples
    --------
    >>> grid_bits(1_000_000)
    41
    """
    return max(1, 61 - math.ceil(math.log2(n_rows + 1)))


def grid_exponents(max_abs: np.ndarray) -> np.ndarray:
    """Per column, the power of two ``e`` with ``max_abs < 2**e`` (0 for an all-zero column)."""
    max_abs = np.asarray(max_abs, dtype=np.float64)
    exponents = np.frexp(max_abs)[1].astype(np.int64)
    return np.where(max_abs > 0, exponents, 0)


def _limbs(u: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``u`` (|u| < 1) into integer limbs with ``u ~ (hi * 2**bits + lo) / 4**bits``."""
    factor = 2.0**bits
    scaled = u * factor  # exact: a power-of-two scaling
    # toward zero, so that the remainder keeps the sign and is exact; flooring instead made
    # 1 - tiny for small negative values, which rounded away up to 2**(bits - 54) units
    high = np.trunc(scaled)
    scaled -= high  # exact, in (-1, 1)
    scaled *= factor
    low = np.floor(scaled, out=scaled)  # each value rounds down by less than one grid unit
    return high.astype(np.int64).sum(axis=0), low.astype(np.int64).sum(axis=0)


def _powers_of_two(exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two exact float64 factors per column whose product is ``2**e`` (each in normal range)."""
    exponents = np.asarray(exponents, dtype=np.int64)
    half = exponents // 2
    ones = np.ones(len(exponents))
    return np.ldexp(ones, half), np.ldexp(ones, exponents - half)


def quantized_sums(
    block: np.ndarray, exponents: np.ndarray, bits: int
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Return the limb sums of the values and of their squares, per column of ``block``.

    Parameters
    ----------
    block : numpy.ndarray of shape (n_rows, n_columns)
        float64 values; non-finite entries must already be replaced by 0.
    exponents : numpy.ndarray of int
        From :func:`grid_exponents` of the global maxima.
    bits : int
        From :func:`grid_bits` of the global row count.

    Returns
    -------
    sum_high, sum_low, square_high, square_low : list of int
    """
    first, second = _powers_of_two(-exponents)
    totals = np.zeros((4, block.shape[1]), dtype=np.int64)
    for start in range(0, len(block), _CHUNK_ROWS):  # small chunks stay in cache
        u = block[start : start + _CHUNK_ROWS] * first
        u *= second  # |u| < 1; exact unless tiny values underflow (deterministic either way)
        totals += np.array([*_limbs(u, bits), *_limbs(u * u, bits)])
    return [row.tolist() for row in totals]  # type: ignore[return-value]


def limbs_to_fraction(high: int, low: int, exponent: int, bits: int) -> Fraction:
    """The exact value ``(high * 2**bits + low) * 2**(exponent - 2 * bits)``.

    Examples
    --------
    >>> e, b = 2, 10
    >>> sums = quantized_sums(np.array([[1.5], [0.25]]), np.array([e]), b)
    >>> float(limbs_to_fraction(sums[0][0], sums[1][0], e, b))
    1.75
    """
    return Fraction((high << bits) + low) * Fraction(2) ** (exponent - 2 * bits)


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
    root = math.isqrt((p << 2 * shift) // q) if shift >= 0 else math.isqrt(p // (q << -2 * shift))
    return math.ldexp(float(root), -shift)
