"""Per-partition scoring and selection functions, on pandas and NumPy only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dask_anomaly import calibration as calibration_module
from dask_anomaly._rowhash import lowest_hash_order, row_hashes, sampling_threshold
from dask_anomaly.calibration import fit_calibration
from dask_anomaly.config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.model import Autoencoder, InferenceNetwork
from dask_anomaly.scoring import (
    POSITION_COLUMN,
    combine_topk,
    finish_topk,
    score_components,
    score_partition,
    scored_partition,
    top_order,
    topk_partition,
)

from .conftest import ensemble_member


def reference_top(scores: np.ndarray, k: int) -> np.ndarray:
    """A full stable sort: highest score first, earlier row first among ties."""
    return np.argsort(-scores, kind="stable")[:k]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=60),  # few values: many ties
    st.integers(1, 70),
)
def test_top_order_equals_full_sort_with_ties(values: list[int], k: int) -> None:
    scores = np.array(values, dtype=np.float64)
    positions = np.arange(len(scores))
    got = top_order(scores, np.zeros(len(scores), dtype=np.int64), positions, k)
    np.testing.assert_array_equal(got, reference_top(scores, k))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=80),
    st.lists(st.integers(1, 15), min_size=1, max_size=6),
    st.integers(1, 30),
)
def test_tree_of_partition_topk_equals_global_sort(
    values: list[int], cuts: list[int], k: int
) -> None:
    """Per-partition top-k combined in any grouping equals the top k of the whole table."""
    scores = np.array(values, dtype=np.float64)
    bounds = np.unique(np.clip(np.cumsum(cuts), 0, len(scores)))
    pieces = np.split(np.arange(len(scores)), bounds[bounds < len(scores)])
    partials = []
    for i, rows in enumerate(pieces):
        local = top_order(scores[rows], np.full(len(rows), i), np.arange(len(rows)), k)
        frame = pd.DataFrame({"row": rows[local], SCORE_COLUMN: scores[rows][local]})
        frame["__dask_anomaly_partition"] = i
        frame[POSITION_COLUMN] = local
        from dask_anomaly.scoring import TopK

        partials.append(TopK(frame, len(rows), 1))
    # combine in a lopsided tree: pairs, then all
    level = [combine_topk(partials[i : i + 2], k=k) for i in range(0, len(partials), 2)]
    top = combine_topk(level, k=k)
    np.testing.assert_array_equal(top.frame["row"].to_numpy(), reference_top(scores, k))
    assert top.n_rows == len(scores) and top.n_partitions == len(pieces)


@pytest.mark.parametrize("n_members", [1, 3])
def test_score_components_do_not_depend_on_batching_or_position(n_members: int) -> None:
    raw = Autoencoder(
        7, (16, 8), 3, generator=torch.Generator().manual_seed(0), n_members=n_members
    )
    net = InferenceNetwork.of(raw)
    X = np.random.default_rng(0).normal(size=(3000, 7)).astype(np.float32)
    code = 3 * n_members
    calibration = {"code_center": np.full(code, 0.1), "code_whitening": np.eye(code) * 2.0}

    def errors(rows: np.ndarray, batch_size: int) -> np.ndarray:
        return score_components(net, rows, batch_size=batch_size, **calibration)[0]

    full = errors(X, 4096)
    for cut in (1, 3, 100, 257, 571, 999, 1333):
        pieces = np.concatenate([errors(X[:cut], 256), errors(X[cut:], 1000)])
        np.testing.assert_array_equal(pieces, full)
    inputs = torch.from_numpy(X)
    with torch.no_grad():
        expected = ((raw(inputs) - raw.targets(inputs)) ** 2).mean(dim=1)
    np.testing.assert_allclose(full, expected.double().numpy(), rtol=1e-5)
    assert full.dtype == np.float64
    assert errors(X[:0], 256).shape == (0,)


def _calibrated_parts(
    net: Autoencoder, X: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrate ``net`` on ``rows``; return the whitening and the two parts on ``X``."""
    network = InferenceNetwork.of(net)
    calibration = fit_calibration(network, rows, batch_size=128)
    errors, distances = score_components(
        network,
        X,
        batch_size=256,
        code_center=calibration.code_center,
        code_whitening=calibration.code_whitening,
    )
    return calibration.code_whitening, errors, distances


def test_ensemble_parts_are_the_mean_error_and_the_summed_distance_of_its_members() -> None:
    trio = Autoencoder(6, (16,), 4, generator=torch.Generator().manual_seed(3), n_members=3)
    X = np.random.default_rng(1).normal(size=(500, 6)).astype(np.float32)
    white, errors, distances = _calibrated_parts(trio, X, X[:300])
    # the whitening is block diagonal: one block per member, nothing across
    assert white.shape == (12, 12)
    assert np.count_nonzero(white[:4, 4:]) == 0 and np.count_nonzero(white[4:8, 8:]) == 0
    members = [_calibrated_parts(ensemble_member(trio, k), X, X[:300]) for k in range(3)]
    np.testing.assert_allclose(errors, np.mean([m[1] for m in members], axis=0), rtol=1e-5)
    np.testing.assert_allclose(distances, np.sum([m[2] for m in members], axis=0), rtol=1e-4)
    # per-feature scales apply to every member's reconstruction alike
    scale = np.linspace(0.5, 2.0, 6)
    scaled = [
        score_components(
            InferenceNetwork.of(net),
            X,
            code_center=np.zeros(k),
            code_whitening=np.eye(k),
            batch_size=256,
            feature_scale=scale,
        )[0]
        for net, k in [(trio, 12)] + [(ensemble_member(trio, j), 4) for j in range(3)]
    ]
    np.testing.assert_allclose(scaled[0], np.mean(scaled[1:], axis=0), rtol=1e-5)


def test_feature_scales_divide_each_features_squared_error() -> None:
    net = Autoencoder(5, (8,), 3, generator=torch.Generator().manual_seed(2))
    X = np.random.default_rng(4).normal(size=(300, 5)).astype(np.float32)
    scale = np.array([0.5, 1.0, 2.0, 4.0, 0.25])
    errors, _ = score_components(
        InferenceNetwork.of(net),
        X,
        code_center=np.zeros(3),
        code_whitening=np.eye(3),
        batch_size=128,
        feature_scale=scale,
    )
    inputs = torch.from_numpy(X)
    with torch.no_grad():
        squared = ((net.eval()(inputs) - inputs) ** 2).double().numpy()
    np.testing.assert_allclose(errors, (squared / scale).mean(axis=1), rtol=1e-5)


def test_calibration_scales_features_by_their_floored_median_error() -> None:
    net = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(1))
    rows = np.random.default_rng(2).normal(size=(400, 4)).astype(np.float32)
    rows[:, 3] *= np.float32(1e-3)  # near-constant: tiny errors, scale floored
    calibration = fit_calibration(InferenceNetwork.of(net), rows, batch_size=128)
    inputs = torch.from_numpy(rows)
    with torch.no_grad():
        squared = ((net.eval()(inputs) - inputs) ** 2).double().numpy()
    medians = np.median(squared, axis=0)
    expected = np.maximum(medians, calibration_module.FEATURE_SCALE_FLOOR * medians.mean())
    np.testing.assert_allclose(calibration.feature_error_scale, expected, rtol=1e-5)
    assert calibration.feature_error_scale[3] > 10 * medians[3]  # the floor applied
    # the error scale is the median of the scaled errors of the same rows
    np.testing.assert_allclose(
        calibration.error_scale, np.median((squared / expected).mean(axis=1)), rtol=1e-5
    )


def test_whitening_stretches_no_direction_beyond_the_eigenvalue_floor() -> None:
    """Near-constant code directions are not blown up: their variance counts as the floor."""
    rng = np.random.default_rng(5)
    codes = rng.normal(size=(5000, 3)) * np.array([1.0, 0.5, 1e-5])
    white = calibration_module._whitening(codes - codes.mean(axis=0))
    stretch = np.linalg.svd(white, compute_uv=False)  # 1 / sqrt(floored eigenvalue)
    top = stretch.min()
    assert stretch.max() / top == pytest.approx(calibration_module.EIGENVALUE_FLOOR**-0.5, rel=1e-6)
    # the two real directions are whitened exactly
    np.testing.assert_allclose(np.sort(stretch)[:2], [1.0, 2.0], rtol=0.05)


def test_code_statistics_are_not_stretched_by_a_cluster_of_extreme_rows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """3% of rows far out along one direction must not inflate the code covariance."""
    net = Autoencoder(4, (8,), 3, generator=torch.Generator().manual_seed(0))
    X = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32)
    X[:60] += np.float32(12.0)
    extreme = np.arange(len(X)) < 60

    def distances() -> np.ndarray:
        _, _, found = _calibrated_parts(net, X, X)
        return found

    reweighted = distances()
    monkeypatch.setattr(calibration_module, "CODE_TRIM", 0.0)
    plain = distances()
    # the plain covariance is stretched along the cluster's direction, which shrinks its distances
    assert np.median(reweighted[extreme]) > 5 * np.median(plain[extreme])
    assert reweighted[extreme].min() > np.quantile(reweighted[~extreme], 0.999)


def test_score_partition_keeps_index(fitted_sampler, pdf) -> None:  # type: ignore[no-untyped-def]
    part = pdf.iloc[100:150].set_index(pdf.index[100:150] * 10)
    scores = score_partition(part, fitted_sampler)
    assert scores.name == SCORE_COLUMN and scores.index.equals(part.index)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert score_partition(part.iloc[:0], fitted_sampler).shape == (0,)


def test_topk_partition_and_finish(fitted_sampler, pdf) -> None:  # type: ignore[no-untyped-def]
    top = topk_partition(pdf, fitted_sampler, k=5, partition=0)
    sample, selected = finish_topk(top)
    scores = score_partition(pdf, fitted_sampler)
    np.testing.assert_array_equal(sample.index, scores.sort_values(ascending=False).index[:5])
    assert list(sample[RANK_COLUMN]) == [1, 2, 3, 4, 5]
    assert list(sample.columns) == [*pdf.columns, SCORE_COLUMN, RANK_COLUMN]
    scored = scored_partition(pdf, fitted_sampler, selected)
    assert scored[IN_SAMPLE_COLUMN].sum() == 5
    assert set(scored.index[scored[IN_SAMPLE_COLUMN]]) == set(sample.index)
    empty = topk_partition(pdf.iloc[:0], fitted_sampler, k=5, partition=3)
    assert len(empty.frame) == 0 and empty.n_rows == 0


def test_row_hash_sample_is_partition_independent() -> None:
    X = np.random.default_rng(0).normal(size=(5000, 4)).astype(np.float32)
    h = row_hashes(X, seed=11)
    assert len(np.unique(h)) == len(h)
    assert not np.array_equal(h, row_hashes(X, seed=12))
    threshold = sampling_threshold(500, len(X))
    assert threshold is not None
    whole = lowest_hash_order(h, X, 500)
    keep = h < np.uint64(threshold)
    assert keep.sum() >= 500  # the margin makes a shortfall very unlikely
    # candidates gathered in any order give the same sample, in the same order
    perm = np.random.default_rng(1).permutation(np.flatnonzero(keep))
    again = perm[lowest_hash_order(h[perm], X[perm], 500)]
    np.testing.assert_array_equal(again, whole)
    assert sampling_threshold(500, 400) is None


@pytest.mark.parametrize("n_wanted,n_total", [(10, 100), (1000, 10**6), (10**5, 10**9)])
def test_sampling_threshold_keeps_enough(n_wanted: int, n_total: int) -> None:
    threshold = sampling_threshold(n_wanted, n_total)
    assert threshold is not None
    expected = threshold / 2.0**64 * n_total
    assert expected >= n_wanted + 4 * np.sqrt(n_wanted)
