"""Exceptions raised by dask-anomaly.

Bad arguments raise the built-in ``ValueError``/``TypeError``; failures that depend on the data
raise a :class:`DaskAnomalyError` subclass. Some also subclass ``ValueError`` so that callers
who catch ``ValueError`` for bad input keep working.
"""

from __future__ import annotations


class DaskAnomalyError(Exception):
    """Base class of the library's own errors."""


class NotFittedError(DaskAnomalyError, AttributeError):
    """The estimator is used before ``fit`` was called."""


class EmptyDataError(DaskAnomalyError, ValueError):
    """The input has no rows where rows are needed."""


class NoFeatureColumnsError(DaskAnomalyError, ValueError):
    """No usable feature column is left after column selection and preprocessing."""


class SchemaMismatchError(DaskAnomalyError, ValueError):
    """The columns or dtypes of the data differ from what the model was fitted on."""


class TrainingDivergedError(DaskAnomalyError):
    """The training loss became NaN or infinite."""


class ModelFileError(DaskAnomalyError, ValueError):
    """A model file is not one of ours, is corrupted, or comes from a newer format version."""


class DaskAnomalyWarning(UserWarning):
    """A value was adjusted or a column left out; the result is still valid."""
