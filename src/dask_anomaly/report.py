"""SamplingReport: what was fitted, what was selected, how long it took, with which versions."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from typing import Any


def library_versions() -> dict[str, str]:
    """Return the versions of dask-anomaly and the libraries it runs on."""
    import dask
    import numpy
    import pandas
    import torch

    from . import __version__

    try:
        import distributed

        dist_version = distributed.__version__
    except ImportError:  # pragma: no cover - distributed is a dependency
        dist_version = "not installed"
    return {
        "dask_anomaly": __version__,
        "dask": dask.__version__,
        "distributed": dist_version,
        "torch": torch.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


@dataclass
class SamplingReport:
    """Summary of one sampling run.

    Attributes
    ----------
    architecture : dict
        ``layer_widths`` (of one autoencoder), ``members`` (autoencoders in the ensemble),
        ``activation``, ``initialisation``, ``n_parameters`` (all members).
    feature_columns : list of str
        Input columns the model reads.
    model_features : list of str
        Model input features after encoding.
    dropped_columns : dict of str to str
        Columns left out and why (constant, all missing, datetime, ...).
    sample_size : int
        Rows selected.
    rows_processed, partitions : int
        Rows and partitions scored.
    training : dict
        Mode, training rows, epochs, batch size, learning rate, rows and partitions seen by fit.
    loss_per_epoch : list of float
    threshold : float
        Score of the last selected row.
    random_state : int
    timings : dict of str to float
        Seconds for ``fit`` and for ``score_and_select`` (one pass: scoring and the top-k tree).
    versions : dict of str to str
    warnings : list of str
        Caveats, such as a training sample small for the model.
    """

    architecture: dict[str, Any]
    feature_columns: list[str]
    model_features: list[str]
    dropped_columns: dict[str, str]
    sample_size: int
    requested: dict[str, Any]
    rows_processed: int
    partitions: int
    training: dict[str, Any]
    loss_per_epoch: list[float]
    threshold: float | None
    random_state: int
    timings: dict[str, float]
    versions: dict[str, str] = field(default_factory=library_versions)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-compatible data."""
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        """Return the report as a JSON string (``kwargs`` go to :func:`json.dumps`)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    def to_markdown(self) -> str:
        """Return a readable Markdown summary."""
        arch = self.architecture
        t = self.training
        lines = [
            "# dask-anomaly sampling report",
            "",
            f"- sample size: **{self.sample_size}** of {self.rows_processed:,} rows "
            f"in {self.partitions} partitions (requested {self._requested()})",
            f"- threshold (score of the last selected row): {_fmt(self.threshold)}",
            f"- architecture: {_fmt_members(arch)}{' -> '.join(map(str, arch['layer_widths']))} "
            f"({arch['activation']}, {arch['initialisation']} init, "
            f"{arch['n_parameters']:,} parameters)",
            f"- features: {len(self.feature_columns)} columns -> {len(self.model_features)} "
            f"model inputs: {', '.join(self.feature_columns)}",
            f"- dropped columns: {_fmt_dropped(self.dropped_columns)}",
            f"- training: {t['mode']}, {t['training_rows']:,} rows, {t['epochs']} epochs, "
            f"batch {t['batch_size']}, learning rate {t['learning_rate']}",
            f"- loss per epoch: {', '.join(f'{x:.5f}' for x in self.loss_per_epoch)}",
            f"- random_state: {self.random_state}",
            "- timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items()),
            "- versions: " + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
        ]
        if self.warnings:
            lines += ["", "## Warnings", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def _requested(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.requested.items() if v is not None)

    def __str__(self) -> str:
        return self.to_markdown()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _fmt_dropped(dropped: dict[str, str]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in dropped.items()) or "none"


def _fmt_members(arch: dict[str, Any]) -> str:
    members = int(arch.get("members", 1))
    return f"{members} autoencoders of " if members > 1 else ""
