"""Saving and loading fitted samplers: one zip file, JSON for everything but the weights.

A model file is a zip archive with two members:

``manifest.json``
    The file format and its version, the library version, the sampler's parameters, the
    fitted preprocessing (:meth:`TabularPreprocessor.fitted_state`), the fitted attributes the
    report needs (loss history, architecture, row counts, caveats, fit time) and the SHA-256 of
    the weights.
``weights.pt``
    The network's ``state_dict``, read back with ``torch.load(..., weights_only=True)``, which
    refuses anything but tensors and plain containers. No arbitrary object is ever unpickled.

A file that is not one of ours, is truncated or corrupted, or was written by a newer format
version is refused with :class:`~dask_anomaly.exceptions.ModelFileError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._base import check_is_fitted
from .exceptions import ModelFileError
from .model import Autoencoder
from .preprocessing import TabularPreprocessor

if TYPE_CHECKING:
    from .sampler import AutoencoderSampler

logger = logging.getLogger(__name__)

#: Identifies our files; checked before anything else is read.
FORMAT_NAME = "dask-anomaly-model"
#: Version of the layout below; files with a higher version are refused.
FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.json"
WEIGHTS_MEMBER = "weights.pt"
#: Upper bounds on the members' uncompressed sizes (guards against zip bombs).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_WEIGHTS_BYTES = 8 * 1024**3
#: Fitted attributes stored by other means than the generic JSON encoding.
_SPECIAL_ATTRIBUTES = ("preprocessor_", "module_")


def save_sampler(sampler: AutoencoderSampler, path: str | os.PathLike[str]) -> Path:
    """Write a fitted sampler to ``path`` (atomically: a temporary file, then a rename).

    Parameters
    ----------
    sampler : AutoencoderSampler
        A fitted sampler.
    path : str or path-like
        The model file to write; its folder must exist. An existing file is replaced.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    NotFittedError
        If the sampler is not fitted.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from dask_anomaly import AutoencoderSampler
    >>> pdf = pd.DataFrame(np.random.default_rng(0).normal(size=(500, 3)), columns=list("abc"))
    >>> sampler = AutoencoderSampler(hidden_layers=(8,), bottleneck=2, epochs=1, verbose=False)
    >>> sampler = sampler.fit(pdf)
    >>> path = save_sampler(sampler, os.path.join(tempfile.mkdtemp(), "model.zip"))
    >>> loaded = load_sampler(path)
    >>> bool((loaded.decision_function(pdf) == sampler.decision_function(pdf)).all())
    True
    """
    check_is_fitted(sampler)
    path = Path(path)
    weights = _weights_bytes(sampler.module_)
    manifest = _manifest(sampler, weights)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST_MEMBER, json.dumps(manifest, indent=1))
            zf.writestr(WEIGHTS_MEMBER, weights, compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("model saved to %s", path)
    return path


def load_sampler(
    path: str | os.PathLike[str], cls: type[AutoencoderSampler] | None = None
) -> AutoencoderSampler:
    """Read a sampler written by :func:`save_sampler`.

    Parameters
    ----------
    path : str or path-like
        The model file.
    cls : type or None, default=None
        The class to build (``AutoencoderSampler`` or a subclass); None for ``AutoencoderSampler``.

    Returns
    -------
    AutoencoderSampler
        Fitted, giving the same scores as the sampler that was saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a dask-anomaly model, is corrupted, or needs a newer dask-anomaly.
    """
    if cls is None:
        from .sampler import AutoencoderSampler

        cls = AutoencoderSampler
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model file {str(path)!r} does not exist.")
    manifest, weights = _read_archive(path)
    _check_manifest(manifest, path)
    try:
        return _build_sampler(cls, manifest, _load_weights(weights, manifest, path))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is a dask-anomaly model file but its content is inconsistent "
            f"({type(exc).__name__}: {exc}); it may be corrupted."
        ) from exc


# --------------------------------------------------------------------- writing helpers
def _weights_bytes(module: torch.nn.Module) -> bytes:
    """Serialise the network's ``state_dict`` (tensors only) with :func:`torch.save`."""
    buffer = io.BytesIO()
    state = {name: t.detach().cpu().contiguous() for name, t in module.state_dict().items()}
    torch.save(state, buffer)
    return buffer.getvalue()


def _manifest(sampler: AutoencoderSampler, weights: bytes) -> dict[str, Any]:
    """Return the JSON-compatible description of a fitted sampler."""
    from . import __version__

    fitted = {
        name: encode_value(value, name)
        for name, value in sorted(vars(sampler).items())
        if name.endswith("_") and not name.startswith("_") and name not in _SPECIAL_ATTRIBUTES
    }
    preprocessor = sampler.preprocessor_
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "torch_version": torch.__version__,
        "estimator": type(sampler).__name__,
        "params": encode_value(sampler.get_params(), "params"),
        "preprocessor": {
            "params": encode_value(preprocessor.get_params(), "preprocessor params"),
            "state": encode_value(preprocessor.fitted_state(), "preprocessor state"),
        },
        "fitted": fitted,
        "module": {
            "layer_widths": [int(w) for w in sampler.module_.layer_widths],
            "n_members": int(sampler.module_.n_members),
        },
        "weights": {"member": WEIGHTS_MEMBER, "sha256": hashlib.sha256(weights).hexdigest()},
    }


def encode_value(value: Any, name: str) -> Any:
    """Return ``value`` as JSON-compatible data; tuples and arrays are tagged to come back intact.

    Raises
    ------
    TypeError
        For a type that has no faithful JSON form (naming the attribute).

    Examples
    --------
    >>> encode_value({"layers": (8, 4)}, "x")
    {'layers': {'__tuple__': [8, 4]}}
    >>> decode_value(encode_value((1, np.float32(0.5)), "x"))
    (1, 0.5)
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [encode_value(v, name) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, name) for v in value]
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode_value(v, f"{name}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"Cannot save {name} of type {type(value).__name__} in a model file.")


def decode_value(value: Any) -> Any:
    """Invert :func:`encode_value`."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(decode_value(v) for v in value["__tuple__"])
        if set(value) == {"__ndarray__", "dtype"}:
            return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: decode_value(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------- reading helpers
def _read_archive(path: Path) -> tuple[dict[str, Any], bytes]:
    """Return the parsed manifest and the raw weights of a model file."""
    not_ours = f"{str(path)!r} is not a dask-anomaly model file"
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if MANIFEST_MEMBER not in names or WEIGHTS_MEMBER not in names:
                raise ModelFileError(f"{not_ours} (no {MANIFEST_MEMBER} and {WEIGHTS_MEMBER}).")
            _check_size(zf, MANIFEST_MEMBER, MAX_MANIFEST_BYTES, path)
            _check_size(zf, WEIGHTS_MEMBER, MAX_WEIGHTS_BYTES, path)
            raw_manifest = zf.read(MANIFEST_MEMBER)
            weights = zf.read(WEIGHTS_MEMBER)
    except (ModelFileError, PermissionError):
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"{not_ours}, or it is truncated or corrupted ({exc}).") from exc
    try:
        manifest = json.loads(raw_manifest.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{str(path)!r} has an unreadable {MANIFEST_MEMBER} ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{not_ours} (its manifest does not name the {FORMAT_NAME!r} format).")
    return manifest, weights


def _check_size(zf: zipfile.ZipFile, member: str, limit: int, path: Path) -> None:
    """Refuse a member whose declared uncompressed size is above ``limit``."""
    size = zf.getinfo(member).file_size
    if size > limit:
        raise ModelFileError(
            f"{str(path)!r}: member {member} declares {size} bytes, more than the {limit} allowed."
        )


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Check the format version and log when the file comes from another library version."""
    from . import __version__

    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{str(path)!r} has an invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} was written by dask-anomaly {manifest.get('library_version')} in "
            f"model format version {version}; this dask-anomaly ({__version__}) reads up to "
            f"version {FORMAT_VERSION}. Upgrade dask-anomaly to load it."
        )
    if manifest.get("library_version") != __version__:
        logger.info(
            "model file %s was written by dask-anomaly %s (this is %s)",
            path,
            manifest.get("library_version"),
            __version__,
        )


def _load_weights(weights: bytes, manifest: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """Check the checksum and read the ``state_dict`` with ``weights_only=True``."""
    if hashlib.sha256(weights).hexdigest() != manifest["weights"]["sha256"]:
        raise ModelFileError(f"{str(path)!r}: the weights do not match their checksum (corrupted).")
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for bad payloads
        raise ModelFileError(
            f"{str(path)!r}: the weights could not be read safely ({type(exc).__name__}); "
            "the file is corrupted or was not written by dask-anomaly."
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFileError(f"{str(path)!r}: the weights are not a state dict of tensors.")
    return state


def _build_sampler(
    cls: type[AutoencoderSampler], manifest: dict[str, Any], state: dict[str, torch.Tensor]
) -> AutoencoderSampler:
    """Rebuild the estimator, its preprocessing, its network and its fitted attributes."""
    params = decode_value(manifest["params"])
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ModelFileError(
            f"The model file sets parameters {unknown} that {cls.__name__} does not have; it was "
            f"written by dask-anomaly {manifest.get('library_version')}."
        )
    # files written before ensembles existed hold one autoencoder
    params.setdefault("n_members", 1)
    sampler = cls(**params)
    pre_spec = manifest["preprocessor"]
    preprocessor = TabularPreprocessor(**decode_value(pre_spec["params"]))
    preprocessor.load_fitted_state(decode_value(pre_spec["state"]))
    for name, value in decode_value(manifest["fitted"]).items():
        setattr(sampler, name, value)
    widths = [int(w) for w in manifest["module"]["layer_widths"]]
    module = Autoencoder(
        widths[0],
        sampler.hidden_layers_,
        sampler.bottleneck_,
        dropout=float(sampler.dropout),
        n_members=int(manifest["module"].get("n_members", 1)),
    )
    if module.layer_widths != widths or widths[0] != len(preprocessor.feature_names_out_):
        raise ModelFileError("The network's layer widths do not match the stored architecture.")
    module.load_state_dict(state, strict=True)
    sampler.preprocessor_ = preprocessor
    sampler.module_ = module.eval()
    return sampler
