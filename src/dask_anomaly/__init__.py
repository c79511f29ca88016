"""dask-anomaly: find the most unusual rows of large partitioned tables with an autoencoder.

>>> from dask_anomaly import AutoencoderSampler, anomaly_sample
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from .exceptions import (
    DaskAnomalyError,
    DaskAnomalyWarning,
    EmptyDataError,
    ModelFileError,
    NoFeatureColumnsError,
    NotFittedError,
    SchemaMismatchError,
    TrainingDivergedError,
)
from .explain import explain_rows
from .pipeline import AnomalySample, anomaly_sample
from .preprocessing import TabularPreprocessor
from .report import SamplingReport
from .sampler import AutoencoderSampler

__all__ = [
    "AnomalySample",
    "AutoencoderSampler",
    "DaskAnomalyError",
    "DaskAnomalyWarning",
    "EmptyDataError",
    "IN_SAMPLE_COLUMN",
    "ModelFileError",
    "NoFeatureColumnsError",
    "NotFittedError",
    "RANK_COLUMN",
    "SCORE_COLUMN",
    "SamplingReport",
    "SchemaMismatchError",
    "TabularPreprocessor",
    "TrainingDivergedError",
    "__version__",
    "anomaly_sample",
    "explain_rows",
]
