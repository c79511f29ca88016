"""The guide's cluster walkthrough, run as a user would: ``examples/cluster.sh``.

The script starts ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (free
ports), runs ``dask-anomaly sample --scheduler tcp://127.0.0.1:PORT``, ``dask-anomaly score``
and the Python API (``examples/cluster_api.py``) against them, and stops them. Here it runs in
its own process group under a hard time limit; whatever is left of the group afterwards, on
success, failure or time-out, is killed and fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "cluster.sh"
#: Hard bound of the whole walkthrough (it takes about 30 s on an idle 2-core machine).
LIMIT_S = 150
K = 10

pytestmark = [pytest.mark.slow, pytest.mark.timeout(LIMIT_S + 60)]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a recycled id owned by someone else
        return False
    return True


def _stop_group(pgid: int, *, grace_s: float = 15.0) -> bool:
    """Wait for the process group to empty; kill what is left. Return whether anything was left."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return False
        time.sleep(0.2)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _group_alive(pgid):
            os.killpg(pgid, sig)
            time.sleep(1.0)
    return True


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run examples/cluster.sh once on generated data; return its work folder and output."""
    bindir = Path(sys.executable).parent
    if shutil.which("bash") is None or shutil.which("dask", path=str(bindir)) is None:
        pytest.skip("needs bash and the dask command next to this Python")
    work = tmp_path_factory.mktemp("cluster")
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHON": sys.executable,
        "WORK": str(work),
        "K": str(K),
        "EPOCHS": "3",
        "ROWS": "4000",
        "TIMEOUT": "60",
    }
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: scheduler, workers and their children
    )
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGTERM)  # the script's trap stops the cluster
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    finally:
        left_over = _stop_group(proc.pid)
    (work / "walkthrough.log").write_text(output)  # the whole output, for a failure's details
    tail = output[-6000:]
    assert not timed_out, f"the walkthrough took more than {LIMIT_S} s:\n{tail}"
    assert proc.returncode == 0, f"examples/cluster.sh exited {proc.returncode}:\n{tail}"
    assert not left_over, f"processes of the walkthrough were still running:\n{tail}"
    return work, output


def test_cluster_is_on_loopback_with_two_workers(walkthrough: tuple[Path, str]) -> None:
    work, output = walkthrough
    (address,) = re.findall(r"^scheduler at (\S+)$", output, flags=re.M)
    assert address.startswith("tcp://127.0.0.1:")
    assert "2 workers connected" in output
    assert f"connected to {address} (2 workers)" in output
    assert "== stopping the cluster" in output


def test_command_line_and_python_api_select_the_same_rows(walkthrough: tuple[Path, str]) -> None:
    work, _ = walkthrough
    cli = pd.read_parquet(work / "cli" / "sample.parquet")
    api = pd.read_parquet(work / "api-sample.parquet")
    scored_again = pd.read_parquet(work / "score" / "sample.parquet")
    assert len(cli) == K
    pd.testing.assert_frame_equal(cli, api)
    pd.testing.assert_frame_equal(cli, scored_again)
    for name in ("report.html", "report.json", "report.md", "explanations.parquet"):
        assert (work / "cli" / name).is_file()
    assert (work / "model.zip").is_file()
