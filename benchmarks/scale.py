"""Scale benchmark: dask-anomaly against a no-Dask limit loop and the peers, in one run.

Generates a Parquet dataset of N rows x d float32 columns with planted anomalies (never
committed; kept under benchmarks/data/), then measures, side by side:

1. the *limit*: a tight loop without Dask, one process per core: read each file with pyarrow,
   convert to float32, scale, run the same fitted network, keep a running top-k;
2. dask-anomaly on a LocalCluster with one single-threaded worker per core: ``sample(k)``
   (scoring + top-k), ``decision_function`` (scoring reduced to its maximum), and the fit in
   sampled and streamed mode, with training throughput against a bare training loop;
3. the peers on the same files: PyOD ``AutoEncoder.decision_function`` on rows loaded in memory,
   and dask-ml ``ParallelPostFit`` around the fitted PyOD model;

and reports rows/s, ratios, and the peak memory (RSS) of each worker and of the client.

Usage (from the repository root)::

    python benchmarks/scale.py --rows 4000000          # about a minute of scoring work
    python benchmarks/scale.py --rows 100000000 --skip-peers --json scale_100M.json
    python benchmarks/scale.py --rows 200000000 --sample-only   # larger than memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


# ----------------------------------------------------------------------------- data
def generate(out: Path, *, rows: int, d: int, rows_per_file: int, seed: int = 0) -> Path:
    """Write ``rows`` x ``d`` float32 rows with 0.01% planted anomalies as Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = {"rows": rows, "d": d, "rows_per_file": rows_per_file, "seed": seed, "version": 1}
    folder = out / f"planted_{rows}x{d}"
    if (folder / "_stamp.json").exists() and json.loads(
        (folder / "_stamp.json").read_text()
    ) == stamp:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(4, d)).astype(np.float32)
    for i, start in enumerate(range(0, rows, rows_per_file)):
        n = min(rows_per_file, rows - start)
        file_rng = np.random.default_rng([seed, i])
        latent = file_rng.standard_normal((n, 4), dtype=np.float32)
        X = latent @ weights + 0.1 * file_rng.standard_normal((n, d), dtype=np.float32)
        planted = file_rng.random(n) < 1e-4
        for j in range(d):  # break the correlation, keep each value in range
            X[planted, j] = X[file_rng.integers(0, n, planted.sum()), j]
        table = pa.table({f"x{j}": X[:, j] for j in range(d)} | {"planted": planted})
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=rows_per_file)
    (folder / "_stamp.json").write_text(json.dumps(stamp))
    return folder


def files_of(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("part-*.parquet"))


# ----------------------------------------------------------------------------- limit
def _limit_worker(args: tuple[list[str], bytes, list[str], int]) -> tuple[int, np.ndarray]:
    """Score files in a tight loop: pyarrow read, float32, scale, forward, running top-k."""
    import io

    import pyarrow.parquet as pq
    import torch

    torch.set_num_threads(1)
    paths, model_bytes, columns, k = args
    state = torch.load(io.BytesIO(model_bytes), weights_only=False)
    module, center, scale, clip = state["module"], state["center"], state["scale"], state["clip"]
    best = np.empty(0)
    rows = 0
    with torch.inference_mode():
        for path in paths:
            table = pq.read_table(path, columns=columns)
            X = np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)
            X -= center
            X /= scale
            np.clip(X, -clip, clip, out=X)
            t = torch.from_numpy(X)
            errors = np.empty(len(X))
            for s in range(0, len(X), 4096):
                batch = t[s : s + 4096]
                errors[s : s + 4096] = (module(batch) - batch).square_().mean(dim=1).numpy()
            best = np.concatenate([best, errors])
            if len(best) > k:
                best = best[np.argpartition(best, len(best) - k)[-k:]]
            rows += len(X)
    return rows, np.sort(best)[::-1]


def run_limit(files: list[str], sampler, cores: int, k: int) -> dict:  # type: ignore[no-untyped-def]
    import io

    import torch

    pre = sampler.preprocessor_
    buffer = io.BytesIO()
    torch.save(
        {
            "module": sampler.module_,
            "center": np.array([n.center for n in pre.numeric_], dtype=np.float32),
            "scale": np.array([n.scale for n in pre.numeric_], dtype=np.float32),
            "clip": pre.clip,
        },
        buffer,
    )
    chunks = [files[i::cores] for i in range(cores)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=cores) as pool:
        results = list(
            pool.map(
                _limit_worker, [(c, buffer.getvalue(), pre.feature_names_in_, k) for c in chunks]
            )
        )
    seconds = time.perf_counter() - start
    rows = sum(r for r, _ in results)
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


# ----------------------------------------------------------------------------- training loops
def bare_training_rows_per_s(X: np.ndarray, sampler, *, batch_size: int, epochs: int = 2) -> float:  # type: ignore[no-untyped-def]
    """A bare loop over in-memory tensors: randperm, slice, forward, backward, Adam step."""
    import torch

    from dask_anomaly.model import Autoencoder
    from dask_anomaly.training import DEFAULT_TRAINING_THREADS, _adam

    torch.set_num_threads(DEFAULT_TRAINING_THREADS)  # the same thread count as the library
    # the same network (dropout included) and the same optimizer (fused Adam where available)
    net = Autoencoder(
        X.shape[1], sampler.hidden_layers_, sampler.bottleneck_, dropout=sampler.dropout
    ).train()
    net.set_dropout_generator(torch.Generator().manual_seed(1))
    opt = _adam(list(net.parameters()), 1e-3)
    t = torch.from_numpy(X)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(t), generator=gen).split(batch_size):
            batch = t[idx]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(batch), batch)
            loss.backward()
            opt.step()
    return len(t) * epochs / (time.perf_counter() - start)


def our_training_seconds(chunks, sampler, *, epochs: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds of the library's training loop (DataLoader batches, loss bookkeeping)."""
    from dask_anomaly.training import train_on_chunks

    start = time.perf_counter()
    train_on_chunks(
        chunks,
        n_features=len(sampler.preprocessor_.feature_names_out_),
        hidden_layers=sampler.hidden_layers_,
        bottleneck=sampler.bottleneck_,
        epochs=epochs,
        batch_size=sampler.batch_size,
        learning_rate=1e-3,
        random_state=0,
        dropout=sampler.dropout,
    )
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- peers
def run_peers(files: list[str], columns: list[str], *, rows: int, client) -> dict:  # type: ignore[no-untyped-def]
    import dask.dataframe as dd
    import pandas as pd
    import torch
    from pyod.models.auto_encoder import AutoEncoder

    torch.set_num_threads(1)
    sample = pd.read_parquet(files[0], columns=columns).to_numpy(np.float32)[:rows]
    pyod = AutoEncoder(epoch_num=1, verbose=0, random_state=0)
    pyod.fit(sample[:10_000])  # fitted only to be able to score; its scoring speed is measured
    start = time.perf_counter()
    pyod.decision_function(sample)
    pyod_rate = len(sample) / (time.perf_counter() - start)
    out = {"pyod_decision_function_rows_per_s": pyod_rate, "pyod_rows": len(sample)}
    try:
        from dask_ml.wrappers import ParallelPostFit
    except ImportError:
        out["daskml_note"] = "dask-ml not installed (pip install dask-ml)"
        return out
    # ParallelPostFit has no decision_function; its predict maps the fitted PyOD model over the
    # blocks, and PyOD's predict thresholds decision_function: the same scoring work.
    wrapped = ParallelPostFit(estimator=pyod)
    ddf = dd.read_parquet(files[: max(2, len(files) // 4)], columns=columns)
    arr = ddf.to_dask_array(lengths=True).astype(np.float32)
    start = time.perf_counter()
    wrapped.predict(arr).max().compute()
    out["daskml_parallelpostfit_rows_per_s"] = arr.shape[0] / (time.perf_counter() - start)
    out["daskml_rows"] = int(arr.shape[0])
    return out


# ----------------------------------------------------------------------------- dask-anomaly
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dask_anomaly(folder: Path, args: argparse.Namespace) -> tuple[dict, object]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from dask_anomaly import AutoencoderSampler
    from dask_anomaly.parallel import worker_environment

    res: dict = {}
    with (
        worker_environment(),
        LocalCluster(
            n_workers=args.cores, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        ddf = dd.read_parquet(str(folder), columns=[f"x{j}" for j in range(args.d)] + ["planted"])
        params = {
            "epochs": args.epochs,
            "train_rows": args.train_rows,
            "verbose": False,
            "exclude": ["planted"],
        }
        start = time.perf_counter()
        sampler = AutoencoderSampler(**params).fit(ddf)
        res["fit_sampled_seconds"] = time.perf_counter() - start
        res["rows"] = sampler.n_rows_fit_
        res["partitions"] = ddf.npartitions
        start = time.perf_counter()
        result = sampler.sample(ddf, k=args.k)
        res["sample_seconds"] = time.perf_counter() - start
        res["sample_rows_per_s"] = res["rows"] / res["sample_seconds"]
        res["planted_in_sample"] = int(result.sample["planted"].sum())
        if not args.sample_only:
            measure_throughputs(res, sampler, ddf, args)
        start = time.perf_counter()
        streamed = AutoencoderSampler(**params, training="stream").fit(ddf)
        res["fit_stream_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        res["stream_sample_equal_planted"] = int(
            streamed.sample(ddf, k=args.k).sample["planted"].sum()
        )
        res["stream_sample_seconds"] = time.perf_counter() - start
        res["worker_peak_rss_mb"] = sorted(client.run(peak_rss_mb).values())
        if not (args.skip_peers or args.sample_only):
            try:
                res["peers"] = run_peers(
                    files_of(folder), sampler.feature_names_in_, rows=args.pyod_rows, client=client
                )
            except Exception as exc:  # a peer failing must not lose the other figures
                res["peers_error"] = repr(exc)
    res["client_peak_rss_mb"] = peak_rss_mb()
    return res, sampler


def measure_throughputs(res: dict, sampler, ddf, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """decision_function rows/s, and training rows/s: library loops against a bare loop."""
    from dask_anomaly.parallel import PartitionStream

    start = time.perf_counter()
    sampler.decision_function(ddf).max().compute()
    res["decision_function_rows_per_s"] = res["rows"] / (time.perf_counter() - start)
    # training throughput: the library's loop vs a bare loop, same batch size, in this process
    from dask_anomaly.parallel import training_sample

    X = training_sample(ddf, sampler.preprocessor_, n_rows=args.train_rows, seed=0)
    res["bare_training_rows_per_s"] = bare_training_rows_per_s(
        X, sampler, batch_size=sampler.batch_size
    )
    seconds = our_training_seconds(lambda e: [X], sampler, epochs=2)
    res["sampled_training_rows_per_s"] = 2 * len(X) / seconds
    stream = PartitionStream(ddf, sampler.preprocessor_, seed=0, rows_per_epoch=args.train_rows)
    seconds = our_training_seconds(stream, sampler, epochs=2)
    res["stream_training_rows_per_s"] = sum(stream.rows_seen) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--rows-per-file", type=int, default=500_000)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--pyod-rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument(
        "--sample-only",
        action="store_true",
        help="only fit (both modes) and sample(k): for datasets larger than memory",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    folder = generate(args.data, rows=args.rows, d=args.d, rows_per_file=args.rows_per_file)
    print(f"data: {folder} ({time.perf_counter() - start:.1f} s)", flush=True)
    res, sampler = run_dask_anomaly(folder, args)
    if args.sample_only:
        return _report(res, args)
    res["limit"] = run_limit(files_of(folder), sampler, args.cores, args.k)
    res["ratio_sample_to_limit"] = res["sample_rows_per_s"] / res["limit"]["rows_per_s"]
    res["ratio_sampled_training_to_bare"] = (
        res["sampled_training_rows_per_s"] / res["bare_training_rows_per_s"]
    )
    res["ratio_stream_training_to_bare"] = (
        res["stream_training_rows_per_s"] / res["bare_training_rows_per_s"]
    )
    if "peers" in res:
        peers = res["peers"]
        res["ratio_to_pyod"] = (
            res["decision_function_rows_per_s"] / peers["pyod_decision_function_rows_per_s"]
        )
        if "daskml_parallelpostfit_rows_per_s" in peers:
            res["ratio_to_daskml"] = (
                res["decision_function_rows_per_s"] / peers["daskml_parallelpostfit_rows_per_s"]
            )
    return _report(res, args)


def _report(res: dict, args: argparse.Namespace) -> int:
    """Print the figures (and write them as JSON with ``--json``)."""
    res["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    res["args"] = {k: str(v) for k, v in vars(args).items()}
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
