"""Score calibration: statistics of the training sample that shape the anomaly score.

The default score adds two parts, each divided by its median over the training sample:

* the mean squared reconstruction error, which catches rows that break the structure the
  autoencoder learned (for example correlations between features); each feature's squared
  error is first divided by its typical (median) value on the training sample, so that a
  feature the network reconstructs well counts as much as one it reconstructs poorly; the
  typical value is floored at :data:`FEATURE_SCALE_FLOOR` times the average over the features,
  so near-constant features, whose typical error is tiny, cannot dominate the score;
* the squared Mahalanobis distance of the row's bottleneck code from the training codes, which
  catches rows that are extreme *along* the directions the autoencoder reconstructs well
  (the reconstruction error alone misses them).

This is the pair of statistics of classical PCA process monitoring (SPE / Q and Hotelling's T²),
with the autoencoder in place of PCA. The code statistics (mean and covariance) are reweighted
once: estimated on all calibration rows, then again without the :data:`CODE_TRIM` share of rows
farthest from the first estimate, so that a cluster of extreme rows in the training sample
cannot stretch the covariance along its own direction and hide itself (the reweighting step of
robust covariance estimators such as the MCD). Everything here is computed from the training
sample, which does not depend on partitioning, so the fitted scores do not either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import InferenceNetwork
from .scoring import feature_errors_and_codes, score_components

#: Eigenvalues of the code covariance are floored at this share of the largest one, so that the
#: whitening stretches no direction more than 100 times the largest one's: codes that barely vary
#: along some directions (a table with fewer real dimensions than code units) would otherwise let
#: the noise of normal rows along them dominate the distance, more so after the reweighting.
EIGENVALUE_FLOOR = 1e-4

#: Share of the calibration rows with the largest code distances that the reweighted code
#: statistics leave out (see the module docstring).
CODE_TRIM = 0.05

#: A feature's typical squared error is floored at this share of the average over the features.
FEATURE_SCALE_FLOOR = 0.5


@dataclass(frozen=True)
class ScoreCalibration:
    """Fitted statistics of the score (see the module docstring).

    Attributes
    ----------
    code_center : numpy.ndarray of shape (bottleneck,)
        Mean bottleneck code of the training sample (reweighted, see the module docstring).
    code_whitening : numpy.ndarray of shape (bottleneck, bottleneck)
        Maps centred codes to uncorrelated unit-variance coordinates.
    error_scale : float
        Median reconstruction error of the training rows.
    code_scale : float
        Median squared code distance of the training rows.
    feature_error_scale : numpy.ndarray of shape (n_features,)
        Each model input's typical squared error (floored, see the module docstring); the
        reconstruction error is the mean of the squared errors divided by these.
    """

    code_center: np.ndarray
    code_whitening: np.ndarray
    error_scale: float
    code_scale: float
    feature_error_scale: np.ndarray


def fit_calibration(
    network: InferenceNetwork, X: np.ndarray, *, batch_size: int
) -> ScoreCalibration:
    """Compute the score calibration from training rows ``X`` with the inference network.

    The code statistics are reweighted once (see the module docstring); the two scales are the
    medians over all rows of ``X``. For an ensemble, each member's codes are whitened on their
    own (a block-diagonal whitening), so the code distance is the sum of the members'
    Mahalanobis distances.

    Parameters
    ----------
    network : InferenceNetwork
        The trained network's inference copy (:class:`~dask_anomaly.model.InferenceNetwork`).
    X : numpy.ndarray of shape (n_rows, n_features)
        Preprocessed training rows (float32).
    batch_size : int
        Rows per forward pass.

    Returns
    -------
    ScoreCalibration

    Examples
    --------
    >>> import torch
    >>> from dask_anomaly.model import Autoencoder, InferenceNetwork
    >>> net = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(0))
    >>> X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    >>> cal = fit_calibration(InferenceNetwork.of(net), X, batch_size=64)
    >>> cal.code_center.shape, cal.code_whitening.shape, cal.feature_error_scale.shape
    ((2,), (2, 2), (4,))
    """
    squared, codes = feature_errors_and_codes(network, X, batch_size=batch_size)
    feature_scale = feature_error_scale(squared)
    bottleneck = network.code_width
    center = np.empty(bottleneck)
    width = bottleneck // network.n_members
    whitening = np.zeros((bottleneck, bottleneck))
    for k in range(network.n_members):
        block = slice(k * width, (k + 1) * width)
        center[block], whitening[block, block] = _reweighted_statistics(codes[:, block])
    # the training rows' parts are computed exactly as the scores will be
    errors, distances = score_components(
        network,
        X,
        code_center=center,
        code_whitening=whitening,
        batch_size=batch_size,
        feature_scale=feature_scale,
    )
    return ScoreCalibration(
        code_center=center,
        code_whitening=whitening,
        error_scale=_typical(errors),
        code_scale=_typical(distances),
        feature_error_scale=feature_scale,
    )


def feature_error_scale(errors: np.ndarray) -> np.ndarray:
    """Each feature's typical squared error: its median, floored (see the module docstring).

    ``errors`` holds the squared errors of the training rows, one column per model input.

    Examples
    --------
    >>> errors = np.array([[1.0, 0.001, 4.0], [3.0, 0.003, 2.0], [2.0, 0.002, 9.0]])
    >>> feature_error_scale(errors).round(4)  # medians 2, 0.002 and 4; floor 0.5 * 2.0007
    array([2.    , 1.0003, 4.    ])
    """
    n_features = errors.shape[1]
    if len(errors) == 0:
        return np.ones(n_features)
    medians = np.median(errors, axis=0).astype(np.float64)
    floor = FEATURE_SCALE_FLOOR * float(medians.mean())
    if not np.isfinite(floor) or floor <= 0:
        return np.ones(n_features)
    return np.maximum(medians, floor)


def combine_scores(
    errors: np.ndarray,
    distances: np.ndarray,
    *,
    error_scale: float,
    code_scale: float,
    code_weight: float,
) -> np.ndarray:
    """Return ``errors / error_scale + code_weight * distances / code_scale`` (float64).

    Examples
    --------
    >>> combine_scores(np.array([2.0]), np.array([4.0]), error_scale=2.0, code_scale=2.0,
    ...                code_weight=0.5)
    array([2.])
    """
    scores = errors / error_scale
    if code_weight:
        scores = scores + code_weight * (distances / code_scale)
    return scores


def _reweighted_statistics(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and whitening of ``codes``, re-estimated without the farthest :data:`CODE_TRIM`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> codes = rng.normal(size=(1000, 2))
    >>> codes[:30] += [40.0, 0.0]  # a cluster of extreme rows
    >>> center, whitening = _reweighted_statistics(codes)
    >>> covariance = np.linalg.inv(whitening @ whitening.T)
    >>> bool(abs(center[0]) < 0.1), bool(0.7 < covariance[0, 0] < 1.1)  # as if they were absent
    (True, True)
    >>> float(codes[:, 0].var()) > 40  # the plain estimate, stretched by the 30 rows
    True
    """
    center = codes.mean(axis=0)
    whitening = _whitening(codes - center)
    if CODE_TRIM > 0 and len(codes) > 2:
        centred = (codes - center) @ whitening
        distances = np.einsum("ij,ij->i", centred, centred)
        keep = distances <= np.quantile(distances, 1.0 - CODE_TRIM)
        if keep.sum() >= 2:
            center = codes[keep].mean(axis=0)
            whitening = _whitening(codes[keep] - center)
    return center, whitening


def _whitening(centred: np.ndarray) -> np.ndarray:
    """Return ``W`` such that ``centred @ W`` has (about) identity covariance."""
    k = centred.shape[1]
    if len(centred) < 2:
        return np.eye(k)
    cov = centred.T @ centred / (len(centred) - 1)
    values, vectors = np.linalg.eigh(cov)
    top = float(values.max())
    if not np.isfinite(top) or top <= 0:
        return np.eye(k)
    values = np.maximum(values, EIGENVALUE_FLOOR * top)
    return vectors / np.sqrt(values)


def _typical(values: np.ndarray) -> float:
    """Median of ``values``, falling back to the mean, then to 1, when it is zero."""
    for candidate in (np.median(values), np.mean(values)):
        if np.isfinite(candidate) and candidate > 0:
            return float(candidate)
    return 1.0
