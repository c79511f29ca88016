"""Seeded row hashes for a training sample that does not depend on partitioning.

A row is a training candidate when the hash of its preprocessed values falls below a
threshold; the sample is then the ``n`` candidates with the smallest hashes, in hash order.
The same rows are therefore chosen, in the same order, however the data is partitioned.
"""

from __future__ import annotations

import math

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def row_hashes(X: np.ndarray, seed: int) -> np.ndarray:
    """Return one uint64 hash per row of the float32 matrix ``X``, seeded by ``seed``.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0]], dtype=np.float32)
    >>> h = row_hashes(X, seed=0)
    >>> bool(h[0] == h[1]), bool(h[0] == h[2])
    (True, False)
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    bits = X.view(np.uint32)
    with np.errstate(over="ignore"):
        h = np.full(len(X), _mix(np.array([seed], dtype=np.uint64) + _GOLDEN)[0], dtype=np.uint64)
        for j in range(X.shape[1]):
            h = _mix(h ^ (bits[:, j].astype(np.uint64) + np.uint64(j + 1) * _GOLDEN))
    return h


def sampling_threshold(n_wanted: int, n_total: int, *, slack: float = 1.0) -> int | None:
    """Return the hash threshold keeping about ``n_wanted`` of ``n_total`` rows, or None for all.

    The expected number kept carries a margin of four standard deviations (times ``slack``),
    so that fewer than ``n_wanted`` candidates is very unlikely.
    """
    if n_wanted >= n_total:
        return None
    expected = (n_wanted + 4.0 * math.sqrt(n_wanted) + 16.0) * slack
    if expected >= n_total:
        return None
    return int(expected / n_total * 2.0**64)


def lowest_hash_order(hashes: np.ndarray, X: np.ndarray, n: int) -> np.ndarray:
    """Return the indices of the ``n`` rows with the smallest hashes, in hash order.

    Equal hashes (identical rows, or a 64-bit collision) are ordered by the rows' bytes.
    """
    keys = [
        np.ascontiguousarray(X, dtype=np.float32).view(np.uint32)[:, j]
        for j in reversed(range(X.shape[1]))
    ]
    order = np.lexsort([*keys, hashes])
    return order[:n]
