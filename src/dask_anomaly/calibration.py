"""Score calibration: statistics of the training sample that shape the anomaly score.

The default score adds two parts, each divided by its median over the training sample:

* the mean squared reconstruction error, which catches rows that break the structure the
  autoencoder learned (for example correlations between features);
* the squared Mahalanobis distance of the row's bottleneck code from the training codes, which
  catches rows that are extreme *along* the directions the autoencoder reconstructs well
  (the reconstruction error alone misses them).

This is the pair of statistics of classical PCA process monitoring (SPE / Q and Hotelling's T²),
with the autoencoder in place of PCA. Everything here is computed from the training sample,
which does not depend on partitioning, so the fitted scores do not either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .scoring import score_components

#: Eigenvalues of the code covariance are floored at this share of the largest one.
EIGENVALUE_FLOOR = 1e-6


@dataclass(frozen=True)
class ScoreCalibration:
    """Fitted statistics of the score (see the module docstring).

    Attributes
    ----------
    code_center : numpy.ndarray of shape (bottleneck,)
        Mean bottleneck code of the training sample.
    code_whitening : numpy.ndarray of shape (bottleneck, bottleneck)
        Maps centred codes to uncorrelated unit-variance coordinates.
    error_scale : float
        Median reconstruction error of the training rows.
    code_scale : float
        Median squared code distance of the training rows.
    """

    code_center: np.ndarray
    code_whitening: np.ndarray
    error_scale: float
    code_scale: float


def fit_calibration(
    module: torch.nn.Sequential,
    X: np.ndarray,
    *,
    n_encoder_layers: int,
    bottleneck: int,
    batch_size: int,
    n_members: int = 1,
) -> ScoreCalibration:
    """Compute the score calibration from training rows ``X`` with the aligned inference copy.

    For an ensemble, each member's codes are whitened on their own (a block-diagonal
    whitening), so the code distance is the sum of the members' Mahalanobis distances.

    Parameters
    ----------
    module : torch.nn.Sequential
        Aligned inference copy of the trained network (:func:`~dask_anomaly.model.aligned_copy`).
    X : numpy.ndarray of shape (n_rows, n_features)
        Preprocessed training rows (float32).
    n_encoder_layers : int
        Layers of ``module`` that form the encoder.
    bottleneck : int
        Width of the code layer (before alignment padding; all members together).
    batch_size : int
        Rows per forward pass.
    n_members : int, default=1
        Number of autoencoders in the network (:class:`~dask_anomaly.model.Autoencoder`).

    Returns
    -------
    ScoreCalibration

    Examples
    --------
    >>> from dask_anomaly.model import Autoencoder, aligned_copy
    >>> net = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(0))
    >>> X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    >>> cal = fit_calibration(aligned_copy(net), X, n_encoder_layers=len(net.encoder),
    ...                       bottleneck=2, batch_size=64)
    >>> cal.code_center.shape, cal.code_whitening.shape
    ((2,), (2, 2))
    """
    codes = _codes(
        module, X, n_encoder_layers=n_encoder_layers, bottleneck=bottleneck, batch_size=batch_size
    )
    center = codes.mean(axis=0)
    width = bottleneck // n_members
    whitening = np.zeros((bottleneck, bottleneck))
    for k in range(n_members):
        block = slice(k * width, (k + 1) * width)
        whitening[block, block] = _whitening(codes[:, block] - center[block])
    # the training rows' parts are computed exactly as the scores will be
    errors, distances = score_components(
        module,
        X,
        n_encoder_layers=n_encoder_layers,
        code_center=center,
        code_whitening=whitening,
        batch_size=batch_size,
        n_members=n_members,
    )
    return ScoreCalibration(
        code_center=center,
        code_whitening=whitening,
        error_scale=_typical(errors),
        code_scale=_typical(distances),
    )


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


def _codes(
    module: torch.nn.Sequential,
    X: np.ndarray,
    *,
    n_encoder_layers: int,
    bottleneck: int,
    batch_size: int,
) -> np.ndarray:
    """Bottleneck codes of the rows of ``X`` (float64)."""
    from .scoring import _padded_batches

    codes = np.empty((len(X), bottleneck), dtype=np.float64)
    encoder = module[:n_encoder_layers]
    with torch.inference_mode():
        for start, stop, batch in _padded_batches(X, batch_size=batch_size, device=None):
            codes[start:stop] = encoder(batch)[: stop - start, :bottleneck].double().numpy()
    return codes


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
