"""Accuracy benchmark: the default AutoencoderSampler against PyOD's AutoEncoder, IForest and ECOD.

For every ADBench dataset (Parquet, columns ``x0..`` and ``label``) the file is read as a Dask
DataFrame with several partitions; the label column is removed before fitting and used only to
evaluate. Each method is fitted on all rows and scores the same rows:

* ``dask-anomaly``: ``AutoencoderSampler(random_state=seed, verbose=False)`` (defaults otherwise),
  ``decision_function`` for ROC-AUC / AP and ``sample(k=n_anomalies)`` for precision@n;
* ``pyod-ae``: ``pyod.models.auto_encoder.AutoEncoder(random_state=seed)`` (its defaults);
* ``iforest``: ``pyod.models.iforest.IForest(random_state=seed)``;
* ``ecod``: ``pyod.models.ecod.ECOD()`` (deterministic, one run).

Wall time is fit + score of every row. Random methods run once per seed; the tables report the
mean over seeds. The results go to the "## Accuracy" section of ``benchmarks/RESULTS.md``
(other sections of that file are kept).

Usage (from the repository root)::

    python benchmarks/accuracy.py --data ../shared/data/adbench
    python benchmarks/accuracy.py --data ../shared/data/adbench --datasets glass,pima --seeds 1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METHODS = ("dask-anomaly", "pyod-ae", "iforest", "ecod")
LABEL = "label"
SECTION = "## Accuracy"
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Run:
    """One method on one dataset with one seed."""

    dataset: str
    method: str
    seed: int
    roc_auc: float
    ap: float
    precision_at_n: float
    seconds: float
    sample_seconds: float | None = None


# --------------------------------------------------------------------------- metrics
def precision_at_n(labels: np.ndarray, scores: np.ndarray, n: int) -> float:
    """Share of true anomalies among the ``n`` highest scores (ties by position)."""
    top = np.argsort(-scores, kind="stable")[:n]
    return float(labels[top].mean())


def evaluate(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Return ``(ROC-AUC, average precision)`` of ``scores`` (higher = more anomalous)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not np.all(np.isfinite(scores)):
        raise RuntimeError("a method returned non-finite scores")
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


# --------------------------------------------------------------------------- methods
def run_dask_anomaly(
    ddf: Any, labels: np.ndarray, *, seed: int, params: dict[str, Any]
) -> tuple[float, float, float, float, float]:
    """Fit the sampler on the Dask frame; return AUC, AP, precision@n, fit+score s, sample s."""
    from dask_anomaly import AutoencoderSampler

    start = time.perf_counter()
    sampler = AutoencoderSampler(random_state=seed, verbose=False, **params).fit(ddf)
    scores = sampler.decision_function(ddf).compute().to_numpy()
    seconds = time.perf_counter() - start
    n = int(labels.sum())
    start = time.perf_counter()
    chosen = sampler.sample(ddf, k=n).sample.index.to_numpy()
    sample_seconds = time.perf_counter() - start
    auc, ap = evaluate(labels, scores)
    return auc, ap, float(labels[chosen].mean()), seconds, sample_seconds


def _pyod_factory(method: str, seed: int) -> Any:
    if method == "pyod-ae":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(random_state=seed, verbose=0)
    if method == "iforest":
        from pyod.models.iforest import IForest

        return IForest(random_state=seed)
    from pyod.models.ecod import ECOD

    return ECOD()


def run_pyod(method: str, X: np.ndarray, labels: np.ndarray, *, seed: int) -> tuple[float, ...]:
    """Fit a PyOD detector on ``X`` and score the same rows; return AUC, AP, precision@n, s."""
    start = time.perf_counter()
    detector = _pyod_factory(method, seed).fit(X)
    scores = np.asarray(detector.decision_function(X), dtype=np.float64)
    seconds = time.perf_counter() - start
    auc, ap = evaluate(labels, scores)
    return auc, ap, precision_at_n(labels, scores, int(labels.sum())), seconds


def warm_up(methods: Sequence[str], params: dict[str, Any]) -> None:
    """Run every method once on a small random table, untimed.

    First calls pay one-off costs (imports, torch's thread pool and kernels, Dask's thread
    pool); without this they land on whichever method and dataset happen to come first.
    """
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6))
    labels = (np.arange(500) % 50 == 0).astype(np.int64)
    ddf = dd.from_pandas(pd.DataFrame(X, columns=[f"x{j}" for j in range(6)]), npartitions=2)
    for method in methods:
        if method == "dask-anomaly":
            run_dask_anomaly(ddf, labels, seed=0, params={**params, "epochs": 2})
        else:
            run_pyod(method, X, labels, seed=0)


def run_dataset(
    path: Path,
    *,
    methods: Sequence[str],
    seeds: Sequence[int],
    npartitions: int,
    params: dict[str, Any],
    log: Callable[[str], None],
) -> list[Run]:
    """Run every method and seed on one dataset."""
    import dask.dataframe as dd

    name = path.stem
    ddf = dd.read_parquet(str(path)).repartition(npartitions=npartitions)
    pdf = ddf.compute()
    labels = pdf[LABEL].to_numpy().astype(np.int64)
    features = ddf.drop(columns=[LABEL])
    X = pdf.drop(columns=[LABEL]).to_numpy(dtype=np.float64)
    runs: list[Run] = []
    for method in methods:
        for seed in seeds if method != "ecod" else seeds[:1]:
            if method == "dask-anomaly":
                auc, ap, prec, secs, sample_secs = run_dask_anomaly(
                    features, labels, seed=seed, params=params
                )
                run = Run(name, method, seed, auc, ap, prec, secs, sample_secs)
            else:
                auc, ap, prec, secs = run_pyod(method, X, labels, seed=seed)
                run = Run(name, method, seed, auc, ap, prec, secs)
            runs.append(run)
            log(
                f"{name:12s} {method:13s} seed={seed} auc={auc:.4f} ap={ap:.4f} "
                f"p@n={prec:.4f} {secs:7.2f}s"
            )
    return runs


# --------------------------------------------------------------------------- report
def summarise(runs: list[Run]) -> pd.DataFrame:
    """Mean over seeds per dataset and method (columns: metrics)."""
    frame = pd.DataFrame([asdict(r) for r in runs])
    return frame.groupby(["dataset", "method"], sort=True)[
        ["roc_auc", "ap", "precision_at_n", "seconds"]
    ].mean()


def _table(summary: pd.DataFrame, metric: str, methods: Sequence[str], fmt: str) -> list[str]:
    wide = summary[metric].unstack("method").reindex(columns=list(methods))
    lines = ["| dataset | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for dataset, row in wide.iterrows():
        best = row.max() if metric != "seconds" else row.min()
        cells = []
        for m in methods:
            text = format(row[m], fmt)
            cells.append(f"**{text}**" if format(best, fmt) == text else text)
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    means = wide.mean()
    lines.append("| **mean** | " + " | ".join(format(means[m], fmt) for m in methods) + " |")
    return lines


def target_lines(summary: pd.DataFrame, methods: Sequence[str]) -> list[str]:
    """Check the issue's targets; return Markdown bullet lines."""
    ours = "dask-anomaly"
    peers = [m for m in ("pyod-ae", "iforest", "ecod") if m in methods]
    if ours not in methods or not peers:
        return []
    lines = []
    for metric, label in (("roc_auc", "ROC-AUC"), ("precision_at_n", "precision@n")):
        wide = summary[metric].unstack("method")
        best_peer = max(peers, key=lambda m: wide[m].mean())
        ok = wide[ours].mean() >= wide[best_peer].mean()
        lines.append(
            f"- Mean {label}: dask-anomaly {wide[ours].mean():.4f} vs best peer {best_peer} "
            f"{wide[best_peer].mean():.4f}: **{'met' if ok else 'not met'}**"
        )
    if "pyod-ae" in methods:
        auc = summary["roc_auc"].unstack("method")
        wins = auc.index[auc[ours] >= auc["pyod-ae"]].tolist()
        losses = auc.index[auc[ours] < auc["pyod-ae"]].tolist()
        need = -(-14 * len(auc) // 17)  # 14 of 17
        lines.append(
            f"- ROC-AUC at least PyOD AutoEncoder's on {len(wins)} of {len(auc)} datasets "
            f"(target {need}): **{'met' if len(wins) >= need else 'not met'}**"
            + (f"; behind on {', '.join(losses)}" if losses else "")
        )
        secs = summary["seconds"].unstack("method")
        slower = secs.index[secs[ours] > secs["pyod-ae"]].tolist()
        lines.append(
            f"- Wall time at most PyOD AutoEncoder's on {len(secs) - len(slower)} of {len(secs)} "
            f"datasets: **{'met' if not slower else 'not met'}**"
            + (f"; slower on {', '.join(slower)}" if slower else "")
        )
    return lines


def environment(threads: int) -> dict[str, str]:
    """Versions and machine description for the report."""
    import dask
    import pyod
    import sklearn
    import torch

    import dask_anomaly

    return {
        "dask-anomaly": dask_anomaly.__version__,
        "torch": torch.__version__,
        "dask": dask.__version__,
        "pyod": pyod.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {_cpu_name()}",
        "torch threads": str(threads),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def render(
    runs: list[Run],
    *,
    methods: Sequence[str],
    command: str,
    env: dict[str, str],
    npartitions: int,
    seeds: Sequence[int],
) -> str:
    """Return the Markdown of the Accuracy section."""
    summary = summarise(runs)
    lines = [
        SECTION,
        "",
        "Produced by `benchmarks/accuracy.py`; do not edit the tables by hand.",
        "",
        f"Command: `{command}`",
        "",
        f"Each dataset is read as a Dask DataFrame with {npartitions} partitions; every method is "
        "fitted on all rows without the label and scores the same rows. Random methods ran with "
        f"seeds {list(seeds)} (ECOD is deterministic); values are means over seeds. "
        "precision@n is the share of true anomalies among the n top-scored rows, n = number of "
        "anomalies (`sample(k=n)` for dask-anomaly). Time is fit + scoring of every row, "
        "in seconds, after one untimed warm-up run of every method on a small random table. "
        "Best value per row in bold.",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()) + ".",
        "",
        "### Targets",
        "",
        *target_lines(summary, methods),
        "",
    ]
    for metric, title, fmt in (
        ("roc_auc", "ROC-AUC", ".3f"),
        ("ap", "Average precision", ".3f"),
        ("precision_at_n", "Precision@n", ".3f"),
        ("seconds", "Wall time (s, fit + score)", ".2f"),
    ):
        lines += [f"### {title}", "", *_table(summary, metric, methods, fmt), ""]
    return "\n".join(lines)


def write_section(path: Path, section: str, extra: str = "") -> None:
    """Replace (or append) the Accuracy section of ``path``, keeping every other section.

    ``extra`` is hand-written text kept after the generated tables: anything in the existing
    section from the line ``<!-- accuracy:notes -->`` on is preserved when ``extra`` is empty.
    """
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    old = pattern.search(text)
    notes = extra
    if not notes and old and "<!-- accuracy:notes -->" in old.group(0):
        notes = old.group(0)[old.group(0).index("<!-- accuracy:notes -->") :].rstrip() + "\n"
    body = section.rstrip() + "\n\n" + (notes.rstrip() + "\n\n" if notes else "")
    text = pattern.sub(lambda _: body, text, count=1) if old else text.rstrip() + "\n\n" + body
    path.write_text(text.rstrip() + "\n")


# --------------------------------------------------------------------------- CLI
def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` overrides of sampler parameters (values as JSON when possible)."""
    params: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    return params


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/adbench"))
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per random method")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--npartitions", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an AutoencoderSampler parameter (experiments; implies --no-write)",
    )
    parser.add_argument("--json", type=Path, help="also write every run as JSON here")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = build_parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.getLogger("dask_anomaly").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from dask_anomaly.exceptions import DaskAnomalyWarning

    warnings.filterwarnings("ignore", category=DaskAnomalyWarning)  # small-sample caveats
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        print(f"error: unknown methods {unknown}; choose from {list(METHODS)}", file=sys.stderr)
        return 2
    paths = sorted(args.data.glob("*.parquet"))
    if args.datasets:
        wanted = args.datasets.split(",")
        paths = [p for p in paths if p.stem in wanted]
        missing = sorted(set(wanted) - {p.stem for p in paths})
        if missing:
            print(f"error: no Parquet file for {missing} in {args.data}", file=sys.stderr)
            return 2
    if not paths:
        print(f"error: no Parquet files in {args.data}", file=sys.stderr)
        return 2
    params = parse_params(args.param)
    seeds = list(range(args.seeds))
    runs: list[Run] = []
    warm_up(methods, params)
    for path in paths:
        runs += run_dataset(
            path,
            methods=methods,
            seeds=seeds,
            npartitions=args.npartitions,
            params=params,
            log=lambda line: print(line, flush=True),
        )
    summary = summarise(runs)
    print(summary.groupby("method").mean().to_string(float_format="%.4f"))
    for line in target_lines(summary, methods):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    if not args.no_write and not params:
        command = "python benchmarks/accuracy.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:])
        )
        section = render(
            runs,
            methods=methods,
            command=command.strip(),
            env=environment(args.threads),
            npartitions=args.npartitions,
            seeds=seeds,
        )
        write_section(args.output, section)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
