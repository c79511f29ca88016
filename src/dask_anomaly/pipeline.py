"""From a fitted sampler and a table to an :class:`AnomalySample`: score, select, report."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import SCORE_COLUMN
from .exceptions import DaskAnomalyWarning, EmptyDataError
from .model import LEAKY_SLOPE
from .report import SamplingReport
from .sampler import AutoencoderSampler, frame_kind
from .scoring import (
    TopK,
    finish_topk,
    preprocessed_partition,
    scored_partition,
    topk_partition,
)

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)


@dataclass
class AnomalySample:
    """The result of :meth:`AutoencoderSampler.sample`.

    Attributes
    ----------
    sample : pandas.DataFrame
        Selected rows with all original columns plus ``anomaly_score`` and ``anomaly_rank``
        (1 = most anomalous), sorted by rank, on their original index.
    scored : dask.dataframe.DataFrame or pandas.DataFrame
        Every row: original columns + ``anomaly_score`` + ``in_sample``. Lazy for Dask input.
    preprocessed : dask.dataframe.DataFrame or pandas.DataFrame
        Every row: model input features + ``anomaly_score`` + ``in_sample``. Lazy for Dask input.
    report : SamplingReport
    sampler : AutoencoderSampler
        The fitted sampler that produced the scores.
    """

    sample: pd.DataFrame
    scored: Any
    preprocessed: Any
    report: SamplingReport
    sampler: AutoencoderSampler

    def explain(self) -> pd.DataFrame:
        """Return why each sampled row was picked: its error per original column.

        One-hot and missing-indicator features are summed back into their source column, so
        each row of the result adds up to the row's ``anomaly_score``. Computed on the sample
        only (see :mod:`dask_anomaly.explain`).

        Returns
        -------
        pandas.DataFrame
            On ``sample``'s index and in its order, one column per feature column.

        Examples
        --------
        >>> pdf = pd.DataFrame(np.random.default_rng(0).normal(size=(500, 3)), columns=list("abc"))
        >>> result = anomaly_sample(pdf, k=2, hidden_layers=(8,), bottleneck=2, epochs=2,
        ...                         verbose=False)
        >>> scores = result.sample["anomaly_score"]
        >>> bool(np.allclose(result.explain().sum(axis=1), scores, rtol=1e-5))
        True
        """
        from .explain import explain_rows

        return explain_rows(self.sampler, self.sample)


def validate_size(k: object, fraction: object) -> None:
    """Check that exactly one of ``k`` (positive int) and ``fraction`` (in (0, 1]) is given."""
    if (k is None) == (fraction is None):
        which = "both" if k is not None else "neither"
        raise ValueError(f"Pass exactly one of k and fraction, got {which}.")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0):
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if fraction is not None and (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float, np.floating))
        or not 0 < fraction <= 1
    ):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")


def select_sample(
    sampler: AutoencoderSampler,
    X: Any,
    *,
    k: int | None = None,
    fraction: float | None = None,
    client: Client | None = None,
) -> AnomalySample:
    """Score ``X`` once, select its top rows, and build the lazy outputs and the report."""
    validate_size(k, fraction)
    kind = frame_kind(X)
    start = time.perf_counter()
    n_rows: int | None
    if kind == "pandas":
        n_rows = len(X)
    else:
        from .parallel import count_rows

        n_rows = count_rows(X, client=client) if fraction is not None else None
    if n_rows == 0:
        raise EmptyDataError("X has no rows; there is nothing to sample.")
    size = float(fraction or 0.0) * (n_rows or 0)
    wanted = int(k) if k is not None else max(1, math.ceil(size))
    if kind == "pandas":
        top = topk_partition(X, sampler, k=wanted, partition=0)
    else:
        from .parallel import top_k

        top = top_k(X, sampler, k=wanted, client=client)
    if top.n_rows == 0:
        raise EmptyDataError("X has no rows; there is nothing to sample.")
    if wanted > top.n_rows:
        warnings.warn(
            f"k={wanted} is more than the {top.n_rows} rows of X; the sample holds all rows.",
            DaskAnomalyWarning,
            stacklevel=3,
        )
    sample, selected = finish_topk(top)
    elapsed = time.perf_counter() - start
    if kind == "pandas":
        scored = scored_partition(X, sampler, selected)
        preprocessed = preprocessed_partition(X, sampler, selected)
    else:
        from .parallel import preprocessed_frame, scored_frame

        scored = scored_frame(X, sampler, selected)
        preprocessed = preprocessed_frame(X, sampler, selected)
    report = build_report(sampler, top, sample, k=k, fraction=fraction, select_seconds=elapsed)
    logger.info(
        "sample: %d of %d rows selected, threshold %.6g, in %.2f s",
        len(sample),
        top.n_rows,
        report.threshold or float("nan"),
        elapsed,
    )
    return AnomalySample(sample, scored, preprocessed, report, sampler)


def build_report(
    sampler: AutoencoderSampler,
    top: TopK,
    sample: pd.DataFrame,
    *,
    k: int | None,
    fraction: float | None,
    select_seconds: float,
) -> SamplingReport:
    """Assemble the :class:`SamplingReport` of one run."""
    module = sampler.module_
    return SamplingReport(
        architecture={
            "layer_widths": list(module.member_widths),
            "members": module.n_members,
            "activation": f"LeakyReLU(negative_slope={LEAKY_SLOPE})"
            + (f" + dropout {module.dropout:g} in training" if module.dropout else ""),
            "initialisation": "Xavier uniform, zero biases",
            "n_parameters": module.n_parameters(),
        },
        feature_columns=list(sampler.feature_names_in_),
        model_features=list(sampler.preprocessor_.feature_names_out_),
        dropped_columns=dict(sampler.preprocessor_.dropped_columns_),
        sample_size=len(sample),
        requested={"k": k, "fraction": fraction},
        rows_processed=top.n_rows,
        partitions=top.n_partitions,
        training={
            "mode": sampler.training,
            "training_rows": sampler.n_train_rows_,
            "epochs": sampler.epochs,
            "batch_size": sampler.batch_size,
            "learning_rate": sampler.learning_rate,
            "rows_seen_by_fit": sampler.n_rows_fit_,
            "partitions_seen_by_fit": sampler.n_partitions_fit_,
        },
        loss_per_epoch=list(sampler.loss_history_),
        threshold=float(sample[SCORE_COLUMN].iloc[-1]) if len(sample) else None,
        random_state=int(sampler.random_state),
        timings={
            "fit": round(sampler.fit_seconds_, 4),
            "score_and_select": round(select_seconds, 4),
        },
        warnings=list(sampler.warnings_),
    )


def anomaly_sample(
    X: Any,
    *,
    k: int | None = None,
    fraction: float | None = None,
    client: Client | None = None,
    **params: Any,
) -> AnomalySample:
    """Fit an :class:`AutoencoderSampler` on ``X`` and return its anomaly sample.

    Parameters
    ----------
    X : pandas.DataFrame or dask.dataframe.DataFrame
    k, fraction : see :meth:`AutoencoderSampler.sample`
    client : distributed.Client or None, default=None
        Scheduler for the selection pass; None uses the current default.
    **params
        Parameters of :class:`AutoencoderSampler`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pdf = pd.DataFrame(rng.normal(size=(1000, 3)), columns=["a", "b", "c"])
    >>> result = anomaly_sample(pdf, k=3, epochs=2, verbose=False)
    >>> list(result.sample["anomaly_rank"])
    [1, 2, 3]
    """
    validate_size(k, fraction)
    sampler = AutoencoderSampler(**params).fit(X)
    return select_sample(sampler, X, k=k, fraction=fraction, client=client)


__all__ = ["AnomalySample", "anomaly_sample", "select_sample"]
