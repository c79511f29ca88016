"""The built-in demo: planted anomalies in Parquet files, sampled on a LocalCluster.

Run it with ``python -m dask_anomaly.demo`` (or ``make demo``). It generates a deterministic
dataset (no download), writes it as Parquet, samples it on a local ``distributed`` cluster,
prints the report and the top rows, and writes the sample to ``<out>/sample.parquet``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dask.dataframe as dd

from ._cli_runtime import _local_cluster
from .datasets import PLANTED_COLUMN, make_planted
from .pipeline import AnomalySample
from .sampler import AutoencoderSampler

logger = logging.getLogger(__name__)


def write_parquet_atomic(pdf_or_ddf: object, path: Path) -> None:
    """Write a pandas frame to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pdf_or_ddf.to_parquet(tmp)  # type: ignore[attr-defined]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_demo(
    out: str | Path = "demo-output",
    *,
    n_rows: int = 200_000,
    npartitions: int = 8,
    n_workers: int = 2,
    k: int = 100,
    quiet: bool = False,
) -> AnomalySample:
    """Generate planted anomalies, sample them on a LocalCluster, print and save the result.

    Parameters
    ----------
    out : str or Path, default="demo-output"
        Folder for the generated data (``data/``) and ``sample.parquet``.
    n_rows : int, default=200_000
    npartitions : int, default=8
    n_workers : int, default=2
        Single-threaded worker processes of the LocalCluster.
    k : int, default=100
        Rows to sample; also the number of planted anomalies.
    quiet : bool, default=False
        Print nothing (the result is still returned and written).

    Returns
    -------
    AnomalySample
    """

    logging.getLogger("distributed").setLevel(logging.WARNING)
    out = Path(out)
    data_dir = out / "data"
    pdf = make_planted(n_rows, n_features=16, n_latent=4, n_anomalies=k, random_state=0)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    dd.from_pandas(pdf, npartitions=npartitions).to_parquet(data_dir, write_index=False)
    with _local_cluster(n_workers) as client:
        _say(quiet, f"LocalCluster with {n_workers} workers; dashboard: {client.dashboard_link}")
        ddf = dd.read_parquet(data_dir)
        start = time.perf_counter()
        sampler = AutoencoderSampler(exclude=["row_id", PLANTED_COLUMN], verbose=not quiet)
        result = sampler.fit(ddf).sample(ddf, k=k)
        elapsed = time.perf_counter() - start
    write_parquet_atomic(result.sample, out / "sample.parquet")
    found = int(result.sample[PLANTED_COLUMN].sum())
    _say(quiet, str(result.report))
    shown = result.sample[["row_id", "anomaly_rank", "anomaly_score", PLANTED_COLUMN]].head(10)
    _say(quiet, "Top rows:\n" + shown.to_string())
    _say(
        quiet,
        f"\nplanted anomalies found: {found} of {k} (precision@{k} = {found / k:.2f}); "
        f"fit + sample took {elapsed:.1f} s; sample written to {out / 'sample.parquet'}",
    )
    return result


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dask_anomaly.demo``; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # importing distributed sets its loggers to INFO; the demo shows the report, not the
    # cluster's start-up and shutdown chatter (warnings and errors still show)
    import distributed  # noqa: F401

    logging.getLogger("distributed").setLevel(logging.WARNING)
    run_demo(args.out, n_rows=args.rows, n_workers=args.workers, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
