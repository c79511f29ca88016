"""Saving and loading samplers: identical scores, no pickle, refusal of foreign or damaged files."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import torch

from dask_anomaly import AutoencoderSampler, ModelFileError, NotFittedError
from dask_anomaly.persistence import (
    FORMAT_VERSION,
    MANIFEST_MEMBER,
    WEIGHTS_MEMBER,
    decode_value,
    encode_value,
)

from .conftest import make_sampler

FITTED_FOR_REPORT = (
    "loss_history_",
    "hidden_layers_",
    "bottleneck_",
    "n_train_rows_",
    "n_rows_fit_",
    "n_partitions_fit_",
    "warnings_",
    "fit_seconds_",
    "feature_names_in_",
    "n_features_in_",
)


@pytest.fixture(scope="module")
def sampler(pdf: pd.DataFrame) -> AutoencoderSampler:
    """A quickly fitted sampler (2 epochs)."""
    return make_sampler(epochs=2).fit(pdf)


@pytest.fixture(scope="module")
def model_file(sampler: AutoencoderSampler, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sampler.save(tmp_path_factory.mktemp("model") / "model.zip")


def _rewrite(
    source: Path, target: Path, *, manifest: dict | None = None, weights: bytes | None = None
) -> Path:
    """Copy a model file, replacing its manifest and/or weights."""
    with zipfile.ZipFile(source) as zf:
        old_manifest = json.loads(zf.read(MANIFEST_MEMBER))
        old_weights = zf.read(WEIGHTS_MEMBER)
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(MANIFEST_MEMBER, json.dumps(manifest or old_manifest))
        zf.writestr(WEIGHTS_MEMBER, old_weights if weights is None else weights)
    return target


def test_round_trip_gives_bitwise_identical_scores(
    sampler: AutoencoderSampler, model_file: Path, pdf: pd.DataFrame
) -> None:
    loaded = AutoencoderSampler.load(model_file)
    expected = sampler.decision_function(pdf).to_numpy()
    assert np.array_equal(loaded.decision_function(pdf).to_numpy(), expected)
    ddf = dd.from_pandas(pdf, npartitions=3)
    dask_scores = loaded.decision_function(ddf).compute(scheduler="sync").to_numpy()
    assert np.array_equal(dask_scores, expected)


def test_round_trip_keeps_parameters_and_fitted_attributes(
    sampler: AutoencoderSampler, model_file: Path
) -> None:
    loaded = AutoencoderSampler.load(model_file)
    assert loaded.get_params() == sampler.get_params()
    for name in FITTED_FOR_REPORT:
        assert getattr(loaded, name) == getattr(sampler, name), name
    assert isinstance(loaded.hidden_layers_, tuple)
    assert loaded.preprocessor_.fitted_state() == sampler.preprocessor_.fitted_state()
    assert loaded.preprocessor_.get_params() == sampler.preprocessor_.get_params()
    for name, tensor in sampler.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[name], tensor)
    assert not loaded.module_.training


def test_file_is_json_and_tensors_with_versions(model_file: Path) -> None:
    with zipfile.ZipFile(model_file) as zf:
        assert sorted(zf.namelist()) == [MANIFEST_MEMBER, WEIGHTS_MEMBER]
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    assert manifest["format"] == "dask-anomaly-model"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["library_version"]
    assert manifest["params"]["epochs"] == 2


def test_save_replaces_atomically_and_leaves_no_temporary_files(
    sampler: AutoencoderSampler, tmp_path: Path
) -> None:
    path = tmp_path / "m.zip"
    path.write_text("old")
    sampler.save(str(path))
    assert AutoencoderSampler.load(path).n_rows_fit_ == sampler.n_rows_fit_
    assert os.listdir(tmp_path) == ["m.zip"]


def test_unfitted_sampler_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        AutoencoderSampler().save(tmp_path / "m.zip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AutoencoderSampler.load(tmp_path / "nope.zip")


class _Exploit:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_crafted_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.zip"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ModelFileError, match="not a dask-anomaly model file"):
        AutoencoderSampler.load(path)
    assert not marker.exists()


def test_a_crafted_pickle_inside_our_archive_is_refused(model_file: Path, tmp_path: Path) -> None:
    """Valid manifest with the payload's checksum: torch.load(weights_only=True) must refuse it."""
    import hashlib

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"encoder.0.weight": _Exploit(marker)}, buffer)
    payload = buffer.getvalue()
    with zipfile.ZipFile(model_file) as zf:
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    manifest["weights"]["sha256"] = hashlib.sha256(payload).hexdigest()
    path = _rewrite(model_file, tmp_path / "evil.zip", manifest=manifest, weights=payload)
    with pytest.raises(ModelFileError, match="could not be read safely"):
        AutoencoderSampler.load(path)
    assert not marker.exists()


def test_a_truncated_file_is_refused(model_file: Path, tmp_path: Path) -> None:
    data = model_file.read_bytes()
    for keep in (len(data) // 2, len(data) - 10, 10):
        path = tmp_path / f"cut{keep}.zip"
        path.write_bytes(data[:keep])
        with pytest.raises(ModelFileError, match="truncated or corrupted"):
            AutoencoderSampler.load(path)


def test_a_newer_format_version_is_refused(model_file: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(model_file) as zf:
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    manifest["format_version"] = FORMAT_VERSION + 1
    path = _rewrite(model_file, tmp_path / "future.zip", manifest=manifest)
    with pytest.raises(ModelFileError, match="Upgrade dask-anomaly"):
        AutoencoderSampler.load(path)


def test_corrupted_weights_fail_the_checksum(model_file: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(model_file) as zf:
        weights = bytearray(zf.read(WEIGHTS_MEMBER))
    weights[-100] ^= 0xFF
    path = _rewrite(model_file, tmp_path / "flipped.zip", weights=bytes(weights))
    with pytest.raises(ModelFileError, match="checksum"):
        AutoencoderSampler.load(path)


@pytest.mark.parametrize(
    "members,message",
    [
        ({"readme.txt": "hi"}, "not a dask-anomaly model file"),
        ({MANIFEST_MEMBER: "{not json", WEIGHTS_MEMBER: ""}, "unreadable"),
        ({MANIFEST_MEMBER: '{"format": "other"}', WEIGHTS_MEMBER: ""}, "does not name"),
    ],
)
def test_foreign_archives_are_refused(tmp_path: Path, members: dict, message: str) -> None:
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    with pytest.raises(ModelFileError, match=message):
        AutoencoderSampler.load(path)


def test_inconsistent_content_is_refused(model_file: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(model_file) as zf:
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    manifest["params"]["no_such_param"] = 1
    with pytest.raises(ModelFileError, match="no_such_param"):
        AutoencoderSampler.load(_rewrite(model_file, tmp_path / "a.zip", manifest=manifest))
    del manifest["params"]["no_such_param"]
    manifest["module"]["layer_widths"][1] += 1
    with pytest.raises(ModelFileError, match="layer widths"):
        AutoencoderSampler.load(_rewrite(model_file, tmp_path / "b.zip", manifest=manifest))


def test_a_file_from_before_ensembles_loads_as_one_autoencoder(
    pdf: pd.DataFrame, tmp_path: Path
) -> None:
    single = AutoencoderSampler(epochs=1, verbose=False).fit(pdf)
    path = single.save(tmp_path / "single.zip")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    # as written by dask-anomaly before ensembles
    del manifest["params"]["n_members"], manifest["module"]["n_members"]
    loaded = AutoencoderSampler.load(_rewrite(path, tmp_path / "old.zip", manifest=manifest))
    assert loaded.n_members == 1 and loaded.module_.n_members == 1
    expected = single.decision_function(pdf).to_numpy()
    assert np.array_equal(loaded.decision_function(pdf).to_numpy(), expected)


def test_a_file_from_before_feature_error_scales_scores_as_it_did(
    sampler: AutoencoderSampler, model_file: Path, pdf: pd.DataFrame, tmp_path: Path
) -> None:
    """Files written before per-feature scales existed keep their (unscaled) reconstruction part."""
    with zipfile.ZipFile(model_file) as zf:
        manifest = json.loads(zf.read(MANIFEST_MEMBER))
    assert "feature_error_scale_" in manifest["fitted"]
    del manifest["fitted"]["feature_error_scale_"]
    loaded = AutoencoderSampler.load(_rewrite(model_file, tmp_path / "old.zip", manifest=manifest))
    assert not hasattr(loaded, "feature_error_scale_")
    unscaled = copy.deepcopy(sampler)
    unscaled.feature_error_scale_ = np.ones(sampler.module_.layer_widths[0])
    expected = unscaled.decision_function(pdf).to_numpy()
    assert np.array_equal(loaded.decision_function(pdf).to_numpy(), expected)
    assert not np.array_equal(expected, sampler.decision_function(pdf).to_numpy())


def test_an_ensemble_round_trips_and_its_network_decides_the_members(
    pdf: pd.DataFrame, tmp_path: Path
) -> None:
    trio = make_sampler(epochs=1, n_members=3).fit(pdf)
    changed = copy.deepcopy(trio).set_params(n_members=1)  # a parameter changed after fitting
    loaded = AutoencoderSampler.load(changed.save(tmp_path / "changed.zip"))
    assert loaded.module_.n_members == 3
    expected = trio.decision_function(pdf).to_numpy()
    assert np.array_equal(loaded.decision_function(pdf).to_numpy(), expected)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        AutoencoderSampler.load(tmp_path)


def test_encode_decode_round_trip() -> None:
    value = {"a": (1, 2.5), "b": [np.float64(0.1), None, True], "c": np.arange(3, dtype=np.int32)}
    decoded = decode_value(json.loads(json.dumps(encode_value(value, "v"))))
    assert decoded["a"] == (1, 2.5) and decoded["b"] == [0.1, None, True]
    assert decoded["c"].dtype == np.int32 and decoded["c"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="Cannot save v"):
        encode_value(object(), "v")
