"""Deterministic synthetic tables with planted anomalies, for the demo, tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANTED_COLUMN = "is_planted"


def make_planted(
    n_rows: int = 10_000,
    *,
    n_features: int = 8,
    n_latent: int = 3,
    n_anomalies: int = 20,
    noise: float = 0.1,
    random_state: int = 0,
) -> pd.DataFrame:
    """Return a table whose normal rows follow correlated structure, with planted anomalies.

    Normal rows are ``z @ W + noise`` for a low-dimensional latent ``z``, so the features are
    strongly correlated. An anomaly takes each feature value from a different normal row: every
    value stays inside its normal range, but the correlation between features is broken. The
    table also has a categorical ``segment`` column, a ``row_id`` and the ``is_planted`` label.

    Parameters
    ----------
    n_rows : int, default=10_000
        Total rows.
    n_features : int, default=8
        Numeric feature columns ``f0 ...``.
    n_latent : int, default=3
        Dimension of the structure behind the features.
    n_anomalies : int, default=20
        Planted anomalies, spread evenly over the rows.
    noise : float, default=0.1
        Standard deviation of the independent noise on each feature.
    random_state : int, default=0

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> pdf = make_planted(1000, n_anomalies=5)
    >>> int(pdf["is_planted"].sum()), pdf.shape
    (5, (1000, 11))
    """
    if n_anomalies > n_rows // 2:
        raise ValueError(f"n_anomalies must be at most n_rows // 2, got {n_anomalies!r}.")
    rng = np.random.default_rng(random_state)
    weights = rng.normal(size=(n_latent, n_features))
    latent = rng.normal(size=(n_rows, n_latent))
    X = latent @ weights + noise * rng.normal(size=(n_rows, n_features))
    planted = np.zeros(n_rows, dtype=bool)
    if n_anomalies:
        rows = np.linspace(0, n_rows - 1, n_anomalies + 2, dtype=np.int64)[1:-1]
        planted[rows] = True
        donors = np.flatnonzero(~planted)
        for j in range(n_features):
            X[rows, j] = X[rng.choice(donors, size=n_anomalies, replace=False), j]
    pdf = pd.DataFrame(X, columns=[f"f{j}" for j in range(n_features)])
    pdf["segment"] = pd.Categorical(np.where(latent[:, 0] > 0, "north", "south"))
    pdf["row_id"] = np.arange(n_rows, dtype=np.int64)
    pdf[PLANTED_COLUMN] = planted
    return pdf
