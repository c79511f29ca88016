"""Why a row was picked: each original column's share of its anomaly score.

The score's reconstruction part is a mean over the model's input features of the (weighted)
squared reconstruction error. Each feature's term is its contribution, and the one-hot and
missing-indicator features of a column are summed back into that column (via
``preprocessor_.feature_sources_``). When the sampler also scores the distance of the row's
bottleneck code from the training codes (``code_weight > 0``), that part cannot be traced to one
column and is reported as the pseudo-column :data:`CODE_CONTRIBUTION`. The contributions of a
row therefore add up to its anomaly score. Only the (few) sampled rows are explained, in this
process, on pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ._base import check_is_fitted
from .config import RANK_COLUMN, SCORE_COLUMN
from .scoring import feature_errors_and_codes

if TYPE_CHECKING:
    from .sampler import AutoencoderSampler

#: Features shown per row in the reports.
DEFAULT_TOP_FEATURES = 3
#: Name of the score's part that comes from the row's code distance (no single column).
CODE_CONTRIBUTION = "(code distance)"


def explain_rows(sampler: AutoencoderSampler, pdf: pd.DataFrame) -> pd.DataFrame:
    """Return each row's contribution per original feature column to its anomaly score.

    Parameters
    ----------
    sampler : AutoencoderSampler
        A fitted sampler.
    pdf : pandas.DataFrame
        Rows with (at least) the columns the sampler was fitted on, for example
        ``result.sample``.

    Returns
    -------
    pandas.DataFrame
        On ``pdf``'s index, one float64 column per feature column (``sampler.feature_names_in_``),
        plus :data:`CODE_CONTRIBUTION` when the score includes the code distance. Each row sums
        to the row's ``anomaly_score`` (up to float32 rounding).

    Examples
    --------
    >>> from dask_anomaly import AutoencoderSampler
    >>> rng = np.random.default_rng(0)
    >>> pdf = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
    >>> sampler = AutoencoderSampler(hidden_layers=(8,), bottleneck=2, epochs=2, verbose=False)
    >>> contributions = explain_rows(sampler.fit(pdf), pdf.head(4))
    >>> list(contributions.columns)[:3]
    ['a', 'b', 'c']
    >>> scores = sampler.decision_function(pdf.head(4))
    >>> bool(np.allclose(contributions.sum(axis=1), scores, rtol=1e-5))
    True
    """
    check_is_fitted(sampler)
    preprocessor = sampler.preprocessor_
    X = preprocessor.transform(pdf[list(sampler.feature_names_in_)])
    squared, codes = feature_errors_and_codes(
        sampler._network_on(torch.device("cpu")), X, batch_size=int(sampler.score_batch_size)
    )
    errors = squared.astype(np.float64)
    scale = getattr(sampler, "feature_error_scale_", None)
    if scale is not None:
        errors /= np.asarray(scale, dtype=np.float64)
    errors /= max(X.shape[1], 1) * float(getattr(sampler, "error_scale_", 1.0))
    columns = list(sampler.feature_names_in_)
    position = {name: i for i, name in enumerate(columns)}
    to_column = np.zeros((X.shape[1], len(columns)))
    to_column[np.arange(X.shape[1]), [position[s] for s in preprocessor.feature_sources_]] = 1.0
    contributions = pd.DataFrame(errors @ to_column, index=pdf.index, columns=columns)
    code_weight = float(getattr(sampler, "code_weight", 0.0) or 0.0)
    if code_weight and getattr(sampler, "code_center_", None) is not None:
        white = (codes - sampler.code_center_) @ sampler.code_whitening_
        distance = np.square(white).sum(axis=1)
        contributions[CODE_CONTRIBUTION] = code_weight * distance / float(sampler.code_scale_)
    return contributions


def top_features(
    contributions: pd.DataFrame, n: int = DEFAULT_TOP_FEATURES
) -> list[list[tuple[str, float, float]]]:
    """Return, per row, the ``n`` largest contributions as ``(column, contribution, share)``.

    ``share`` is the contribution divided by the row's total (its anomaly score).

    Examples
    --------
    >>> c = pd.DataFrame({"a": [0.5, 3.0], "b": [1.5, 1.0]})
    >>> top_features(c, n=1)
    [[('b', 1.5, 0.75)], [('a', 3.0, 0.75)]]
    """
    values = contributions.to_numpy(dtype=np.float64)
    names = list(contributions.columns)
    totals = values.sum(axis=1)
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    rows = []
    for i in range(len(values)):
        total = totals[i] if totals[i] > 0 else 1.0
        rows.append(
            [(str(names[j]), float(values[i, j]), float(values[i, j] / total)) for j in order[i]]
        )
    return rows


def format_top_features(features: list[tuple[str, float, float]]) -> str:
    """Return ``"amount 81%, country 12%, age 4%"`` for one row's :func:`top_features`.

    Examples
    --------
    >>> format_top_features([("amount", 2.0, 0.8125), ("age", 0.1, 0.04)])
    'amount 81%, age 4%'
    """
    return ", ".join(f"{name} {share:.0%}" for name, _, share in features)


def top_rows_table(
    sample: pd.DataFrame,
    contributions: pd.DataFrame,
    *,
    n_rows: int,
    n_features: int = DEFAULT_TOP_FEATURES,
) -> pd.DataFrame:
    """Return the first ``n_rows`` of the sample with a ``top_features`` column after the score.

    Columns: ``anomaly_rank``, ``anomaly_score``, ``top_features`` (text), then the original
    columns of ``sample``.
    """
    head = sample.head(n_rows)
    tops = top_features(contributions.head(n_rows), n_features)
    table = pd.DataFrame(
        {
            RANK_COLUMN: head[RANK_COLUMN].to_numpy(),
            SCORE_COLUMN: head[SCORE_COLUMN].to_numpy(),
            "top_features": [format_top_features(t) for t in tops],
        },
        index=head.index,
    )
    rest = [c for c in head.columns if c not in (RANK_COLUMN, SCORE_COLUMN)]
    return pd.concat([table, head[rest]], axis=1)


def explanation_records(
    sample: pd.DataFrame,
    contributions: pd.DataFrame,
    *,
    n_rows: int,
    n_features: int = DEFAULT_TOP_FEATURES,
) -> list[dict[str, object]]:
    """Return the top features of the first ``n_rows`` sampled rows as JSON-compatible data."""
    head = sample.head(n_rows)
    tops = top_features(contributions.head(n_rows), n_features)
    return [
        {
            "anomaly_rank": int(rank),
            "index": index if isinstance(index, (int, str)) else str(index),
            "anomaly_score": float(score),
            "top_features": [
                {"column": name, "contribution": value, "share": share}
                for name, value, share in top
            ],
        }
        for rank, index, score, top in zip(
            head[RANK_COLUMN], head.index.tolist(), head[SCORE_COLUMN], tops, strict=True
        )
    ]
