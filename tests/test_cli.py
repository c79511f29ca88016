"""The ``dask-anomaly`` command: outputs, exit codes, messages; a few real subprocess runs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from dask_anomaly import AutoencoderSampler, __version__
from dask_anomaly.cli import main
from dask_anomaly.config import IN_SAMPLE_COLUMN, RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.datasets import make_planted

N_ROWS, K = 2000, 10
FAST = ["--epochs", "2", "--hidden-layers", "16,8", "--bottleneck", "3", "--members", "2"]
EXCLUDE = ["--exclude", "row_id,is_planted"]
OUTPUTS = [
    "sample.parquet",
    "explanations.parquet",
    "report.json",
    "report.md",
    "report.html",
    "loss.png",
    "scores.png",
]
SCRIPT = Path(sys.executable).parent / "dask-anomaly"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same rows as a Parquet dataset (with a datetime column) and as CSV files."""
    root = tmp_path_factory.mktemp("cli")
    pdf = make_planted(N_ROWS, n_features=6, n_latent=2, n_anomalies=K, random_state=2)
    pdf.to_csv(root / "data.csv", index=False)
    pdf.drop(columns=["f3"]).to_csv(root / "no_f3.csv", index=False)
    pdf["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(N_ROWS), unit="min")
    dd.from_pandas(pdf, npartitions=4).to_parquet(root / "parquet", write_index=False)
    return root


def run_main(*argv: str) -> tuple[int, str, str]:
    """Run ``main`` and return ``(exit code, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sampled(data: Path) -> tuple[int, str, Path]:
    """One `sample` run on the Parquet dataset: (exit code, stderr, output folder)."""
    out = data / "sampled"
    with dask.config.set(scheduler="sync"):  # the command must choose its own scheduler
        code, _, err = run_main(
            "sample",
            str(data / "parquet"),
            "--out",
            str(out),
            "--k",
            str(K),
            *FAST,
            *EXCLUDE,
            "--code-weight",
            "0.3",
            "--scheduler",
            "threads",
            "--model-out",
            str(data / "model.zip"),
            "--write-scored",
        )
    return code, err, out


def test_sample_writes_every_output(sampled: tuple[int, str, Path], data: Path) -> None:
    code, err, out = sampled
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "scored"])
    sample = pd.read_parquet(out / "sample.parquet")
    assert sample[RANK_COLUMN].tolist() == list(range(1, K + 1))
    assert sample[SCORE_COLUMN].is_monotonic_decreasing and "f0" in sample and "when" in sample
    report = json.loads((out / "report.json").read_text())
    assert report["sample_size"] == K and report["rows_processed"] == N_ROWS
    assert report["architecture"]["members"] == 2
    params = AutoencoderSampler.load(data / "model.zip").get_params()
    assert params["n_members"] == 2 and params["code_weight"] == 0.3
    assert report["architecture"]["layer_widths"][1:-1] == [16, 8, 3, 8, 16]
    assert report["run"]["command"] == "sample" and len(report["explanations"]) == K
    assert len(report["explanations"][0]["top_features"]) == 3
    assert "## Top rows" in (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "Top rows" in html
    for png in ("loss.png", "scores.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")
    assert not [p for p in data.iterdir() if p.name.startswith(".sampled")]  # no staging left


def test_sample_explanations_and_scored_rows(sampled: tuple[int, str, Path]) -> None:
    _, _, out = sampled
    sample = pd.read_parquet(out / "sample.parquet")
    explanations = pd.read_parquet(out / "explanations.parquet")
    features = [c for c in explanations.columns if c not in (RANK_COLUMN, SCORE_COLUMN)]
    assert "segment" in features and "row_id" not in features and "when" not in features
    np.testing.assert_allclose(explanations[features].sum(axis=1), sample[SCORE_COLUMN], rtol=1e-5)
    scored = pd.read_parquet(out / "scored")
    assert len(scored) == N_ROWS and scored[IN_SAMPLE_COLUMN].sum() == K
    flagged = scored.loc[scored[IN_SAMPLE_COLUMN], "row_id"]
    assert sorted(flagged) == sorted(sample["row_id"])


def test_sample_logs_progress_and_warnings_to_stderr(sampled: tuple[int, str, Path]) -> None:
    _, err, _ = sampled
    assert "epoch 2/2: mean loss" in err and "fit:" in err and "model saved to" in err
    assert "warning: Columns ['when'] are left out" in err
    assert "Traceback" not in err


def score_main(data: Path, csv: str, out: Path, k: object, *extra: str) -> tuple[int, str, str]:
    """``dask-anomaly score`` with the saved model on ``data / csv``, threaded scheduler."""
    return run_main(
        "score",
        "--model",
        str(data / "model.zip"),
        str(data / csv),
        "--out",
        str(out),
        "--k",
        str(k),
        "--scheduler",
        "threads",
        *extra,
    )


def test_score_with_the_saved_model(sampled: tuple[int, str, Path], data: Path) -> None:
    out = data / "scored_csv"
    code, _, err = score_main(data, "data.csv", out, str(K), "--quiet")
    assert (code, err) == (0, "")
    first = pd.read_parquet(sampled[2] / "sample.parquet")
    again = pd.read_parquet(out / "sample.parquet")
    assert again["row_id"].tolist() == first["row_id"].tolist()
    np.testing.assert_allclose(again[SCORE_COLUMN], first[SCORE_COLUMN], rtol=1e-6)
    assert json.loads((out / "report.json").read_text())["run"]["command"] == "score"
    code, _, err = score_main(data, "data.csv", out, "3", "--quiet")
    assert code == 2 and "exists; pass --overwrite" in err
    code, _, err = score_main(data, "data.csv", out, "3", "--quiet", "--overwrite")
    assert code == 0 and len(pd.read_parquet(out / "sample.parquet")) == 3


def test_score_refuses_mismatched_columns(sampled: tuple[int, str, Path], data: Path) -> None:
    code, _, err = score_main(data, "no_f3.csv", data / "never", "3")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: The input does not fit the model")
    assert "missing ['f3']" in err and not (data / "never").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        ([], "the following arguments are required: COMMAND"),
        (["sample", "x.csv", "--out", "o"], "--fraction is required"),
        (["sample", "x.csv", "--out", "o", "--k", "1", "--fraction", "0.5"], "not allowed with"),
        (["sample", "x.csv", "--out", "o", "--k", "0"], "must be a positive integer, got '0'"),
        (["sample", "x.csv", "--out", "o", "--fraction", "2"], "must be a number in (0, 1]"),
        (["sample", "x.csv", "--out", "o", "--k", "1", "--members", "0"], "positive integer"),
        (["sample", "x.csv", "--out", "o", "--k", "1", "--code-weight", "-1"], "non-negative"),
        (["sample", "x.csv", "--out", "o", "--k", "1", "--hidden-layers", "64,x"], "64,32"),
        (["score", "x.csv", "--out", "o", "--k", "1"], "required: --model"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(argv: list[str], message: str) -> None:
    code, _, err = run_main(*argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_input_exits_2_with_one_line(data: Path) -> None:
    cases = [
        (["sample", str(data / "missing.parquet")], "does not exist"),
        (
            ["score", "--model", str(data / "data.csv"), str(data / "data.csv")],
            "is not a dask-anomaly model file",
        ),
        (["sample", str(data / "data.csv"), "--scheduler", "nowhere"], "--scheduler must be"),
        (["sample", str(data / "data.csv"), "--columns", "nope"], "columns names ['nope']"),
    ]
    for argv, message in cases:
        code, _, err = run_main(*argv, "--out", str(data / "never"), "--k", "2", "--quiet")
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_out_may_not_overwrite_the_input(data: Path) -> None:
    code, _, err = run_main(
        "sample", str(data / "parquet"), "--out", str(data / "parquet"), "--k", "2", "--overwrite"
    )
    assert code == 2 and "overlaps the input" in err and (data / "parquet").is_dir()


def test_unexpected_failure_exits_1_with_traceback(
    sampled: tuple[int, str, Path], data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("dask_anomaly.cli.select_sample", boom)
    code, _, err = score_main(data, "data.csv", data / "never", "2")
    assert code == 1 and "Traceback" in err and "RuntimeError: boom" in err
    assert err.rstrip().splitlines()[-1].startswith("error: unexpected failure (RuntimeError)")


@pytest.mark.parametrize("command", [[], ["sample"], ["score"], ["demo"]])
def test_help_on_every_command_has_an_example(command: list[str]) -> None:
    code, out, _ = run_main(*command, "--help")
    assert code == 0 and "examples:" in out and "dask-anomaly " in out


def test_version() -> None:
    assert run_main("--version")[:2] == (0, f"dask-anomaly {__version__}\n")


def test_demo_command_runs_the_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr("dask_anomaly.demo.run_demo", lambda *a, **kw: calls.append((a, kw)))
    assert run_main("demo", "--out", str(tmp_path), "--rows", "5000", "--k", "7", "--quiet")[0] == 0
    assert calls == [
        (
            (str(tmp_path),),
            {"n_rows": 5000, "npartitions": 8, "n_workers": 2, "k": 7, "quiet": True},
        )
    ]


def test_module_demo_keeps_the_clusters_info_chatter_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``python -m dask_anomaly.demo`` shows the report; distributed logs warnings and up only."""
    import logging

    from dask_anomaly import demo

    calls = []
    monkeypatch.setattr(demo, "run_demo", lambda *a, **kw: calls.append((a, kw)))
    logger = logging.getLogger("distributed")
    before = logger.level
    try:
        assert demo.main(["--out", str(tmp_path), "--rows", "5000", "--quiet"]) == 0
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(before)
    assert calls == [((str(tmp_path),), {"n_rows": 5000, "n_workers": 2, "quiet": True})]


def test_distributed_progress_goes_to_stderr(client, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from dask_anomaly._cli_runtime import Session
    from dask_anomaly.parallel import compute

    session = Session(client, progress=True)
    assert session.compute(dask.delayed(sum)([1, 2])) == 3
    assert compute(dask.delayed(len)([1, 2]), client=session.select_client) == (2,)
    captured = capsys.readouterr()
    assert captured.out == "" and "100% Completed" in captured.err


# ------------------------------------------------------------------ the installed command
def _command(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.skip("the dask-anomaly console script is not installed next to this Python")
    return subprocess.run(
        [str(SCRIPT), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_installed_command_sample_csv_then_score_on_a_local_cluster(data: Path) -> None:
    run = _command(
        "sample",
        "data.csv",
        "--out",
        "csv_out",
        "--k",
        "5",
        *FAST,
        *EXCLUDE,
        "--scheduler",
        "threads",
        "--model-out",
        "csv_model.zip",
        "--training",
        "stream",
        "--stream-partitions",
        "1",
        cwd=data,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and "(stream)" in run.stderr
    assert all((data / "csv_out" / name).exists() for name in OUTPUTS)
    run = _command(
        "score",
        "--model",
        "csv_model.zip",
        "parquet",
        "--out",
        "cluster_out",
        "--fraction",
        "0.005",
        "--scheduler",
        "local",
        "--workers",
        "2",
        cwd=data,
    )
    assert run.returncode == 0, run.stderr
    assert "LocalCluster with 2 worker processes" in run.stderr
    assert len(pd.read_parquet(data / "cluster_out" / "sample.parquet")) == N_ROWS * 0.005


def test_installed_command_bad_input_exits_2(data: Path) -> None:
    run = _command(
        "score",
        "--model",
        "model.zip",
        "no_f3.csv",
        "--out",
        "x",
        "--k",
        "3",
        "--scheduler",
        "threads",
        cwd=data,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "missing ['f3']" in run.stderr


def test_killed_run_leaves_no_output_that_looks_complete(data: Path) -> None:
    """SIGKILL in the middle of a run: no output folder appears (only a hidden partial one may)."""
    import signal
    import time

    if not SCRIPT.exists():
        pytest.skip("the dask-anomaly console script is not installed next to this Python")
    argv = ["sample", "parquet", "--out", "killed_out", "--k", "5", "--epochs", "500"]
    proc = subprocess.Popen(
        [str(SCRIPT), *argv, *EXCLUDE, "--scheduler", "threads"],
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)  # well inside the 500 training epochs
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (data / "killed_out").exists()
    leftovers = [p.name for p in data.iterdir() if "killed_out" in p.name]
    assert all(name.startswith(".") for name in leftovers)  # hidden partial folders only
