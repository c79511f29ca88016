"""The ``dask-anomaly`` command: ``sample``, ``score`` and ``demo``.

A thin front end over the library. Logs and progress go to stderr, results to files. Exit codes:
0 success, 2 bad usage or bad input (one ``error: ...`` line, no traceback), 1 unexpected
failure (with a traceback to report), 130 interrupted. This is the only module, besides the
demo, that starts a Dask cluster.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import __version__
from ._cli_runtime import Session, console, open_session
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CODE_WEIGHT,
    DEFAULT_DEVICE,
    DEFAULT_DROPOUT,
    DEFAULT_EPOCHS,
    DEFAULT_LEARNING_RATE,
    DEFAULT_MAX_CATEGORIES,
    DEFAULT_MEMBERS,
    DEFAULT_RANDOM_STATE,
    DEFAULT_TRAIN_ROWS,
    DEFAULT_TRAINING,
    DEVICES,
    RANK_COLUMN,
    SCORE_COLUMN,
    TRAINING_MODES,
)
from .exceptions import DaskAnomalyError, SchemaMismatchError
from .explain import explanation_records, top_rows_table
from .io import (
    FILE_FORMATS,
    check_output_file,
    check_output_folder,
    read_frame,
    scored_writer,
    staged_output,
    write_bytes,
    write_parquet,
    write_report,
    write_text,
)
from .pipeline import AnomalySample, select_sample
from .report_html import DEFAULT_REPORT_ROWS, render_html, render_plots, top_rows_markdown
from .sampler import AutoencoderSampler

if TYPE_CHECKING:
    import dask.dataframe as dd

logger = logging.getLogger("dask_anomaly.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Exceptions that mean bad usage or bad input: one line, exit 2.
USER_ERRORS = (
    DaskAnomalyError,
    ValueError,
    TypeError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
#: Rows scored (a random subset) for the histogram in report.html.
HISTOGRAM_ROWS = 100_000
#: Sampled rows whose top features go into report.json (all of them: explanations.parquet).
JSON_EXPLANATION_ROWS = 1_000

SAMPLE_EXAMPLES = """examples:
  dask-anomaly sample data/*.parquet --out anomalies --k 100
  dask-anomaly sample events.csv --out run1 --fraction 0.001 --exclude id,created_at \\
      --epochs 30 --model-out model.zip --write-scored
  dask-anomaly sample s3://bucket/table/ --out run2 --k 500 --scheduler tcp://10.0.0.5:8786
"""
SCORE_EXAMPLES = """examples:
  dask-anomaly score --model model.zip new-data/ --out today --k 100
  dask-anomaly score --model model.zip 'exports/2024-*.csv' --out march --fraction 0.001
"""
DEMO_EXAMPLES = """examples:
  dask-anomaly demo
  dask-anomaly demo --out demo-output --rows 50000 --workers 4
"""


def main(argv: list[str] | None = None) -> int:
    """Run the ``dask-anomaly`` command line; return the exit code.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    dask-anomaly ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    with console(quiet=args.quiet):
        try:
            args.run(args)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except USER_ERRORS as exc:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            print(
                f"error: unexpected failure ({type(exc).__name__}); please report it with "
                "the traceback above.",
                file=sys.stderr,
            )
            return EXIT_FAILURE
    return EXIT_OK


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + " ..."


# --------------------------------------------------------------------------- commands
def run_sample(args: argparse.Namespace) -> None:
    """``dask-anomaly sample``: fit on the input, select its sample, write the outputs."""
    out = check_output_folder(args.out, overwrite=args.overwrite, inputs=args.inputs)
    if args.model_out:
        check_output_file(args.model_out, overwrite=args.overwrite)
    ddf = read_frame(args.inputs, file_format=args.format)
    sampler = AutoencoderSampler(
        hidden_layers=args.hidden_layers,
        bottleneck=args.bottleneck,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        dropout=args.dropout,
        n_members=args.members,
        code_weight=args.code_weight,
        train_rows=args.train_rows,
        training=args.training,
        random_state=args.seed,
        device=args.device,
        verbose=not args.quiet,
        columns=args.columns,
        exclude=args.exclude,
        max_categories=args.max_categories,
        stream_partitions=args.stream_partitions,
    )
    with open_session(args.scheduler, workers=args.workers, quiet=args.quiet) as session:
        logger.info("fitting on %d partitions of %s", ddf.npartitions, ", ".join(args.inputs))
        sampler.fit(ddf)
        if args.model_out:
            sampler.save(args.model_out)
        result = _select(session, sampler, ddf, args)
        _write_outputs(session, result, ddf, out, args, run={"command": "sample"})


def run_score(args: argparse.Namespace) -> None:
    """``dask-anomaly score``: score new data with a saved model and select its sample."""
    out = check_output_folder(args.out, overwrite=args.overwrite, inputs=args.inputs)
    sampler = AutoencoderSampler.load(args.model)
    sampler.set_params(verbose=not args.quiet, **({"device": args.device} if args.device else {}))
    ddf = read_frame(args.inputs, file_format=args.format)
    check_columns(sampler, ddf, model=args.model)
    with open_session(args.scheduler, workers=args.workers, quiet=args.quiet) as session:
        result = _select(session, sampler, ddf, args)
        run = {"command": "score", "model": args.model}
        _write_outputs(session, result, ddf, out, args, run=run)


def run_demo(args: argparse.Namespace) -> None:
    """``dask-anomaly demo``: the built-in example on a LocalCluster."""
    from .demo import run_demo as demo

    demo(
        args.out,
        n_rows=args.rows,
        npartitions=args.npartitions,
        n_workers=args.workers,
        k=args.k,
        quiet=args.quiet,
    )


def check_columns(sampler: AutoencoderSampler, ddf: dd.DataFrame, *, model: str) -> None:
    """Refuse input whose columns or dtypes do not fit the saved model, before any work.

    Raises
    ------
    SchemaMismatchError
        Naming the missing columns or the column whose dtype changed.
    """
    try:
        sampler.preprocessor_.transform(ddf._meta)
    except SchemaMismatchError as exc:
        raise SchemaMismatchError(f"The input does not fit the model {model!r}: {exc}") from exc


def _select(
    session: Session, sampler: AutoencoderSampler, ddf: dd.DataFrame, args: argparse.Namespace
) -> AnomalySample:
    """Score every partition once and select the sample."""
    wanted = f"{args.k} most anomalous rows"
    if args.fraction is not None:
        wanted = f"most anomalous {args.fraction:.4g} of the rows"
    logger.info("scoring %d partitions and selecting the %s", ddf.npartitions, wanted)
    return select_sample(
        sampler, ddf, k=args.k, fraction=args.fraction, client=session.select_client
    )


def _histogram_scores(
    session: Session, sampler: AutoencoderSampler, ddf: dd.DataFrame, *, n_rows: int, seed: int
) -> np.ndarray:
    """Scores of a random subset of at most about HISTOGRAM_ROWS rows (all rows if fewer)."""
    part = ddf[list(sampler.feature_names_in_)]
    if n_rows > HISTOGRAM_ROWS:
        part = part.sample(frac=HISTOGRAM_ROWS / n_rows, random_state=seed)
    logger.info("scoring a random subset of rows for the histogram")
    return np.asarray(session.compute(sampler.decision_function(part)), dtype=np.float64)


def _write_outputs(
    session: Session,
    result: AnomalySample,
    ddf: dd.DataFrame,
    out: Any,
    args: argparse.Namespace,
    *,
    run: dict[str, Any],
) -> None:
    """Write sample, explanations, reports, plots (and the scored rows) into ``out`` atomically."""
    contributions = result.explain()
    scores = _histogram_scores(
        session, result.sampler, ddf, n_rows=result.report.rows_processed, seed=int(args.seed or 0)
    )
    top = top_rows_table(result.sample, contributions, n_rows=args.report_rows)
    explanations = pd.concat([result.sample[[RANK_COLUMN, SCORE_COLUMN]], contributions], axis=1)
    extra = {
        "run": {**run, "inputs": list(args.inputs)},
        "explanations": explanation_records(
            result.sample, contributions, n_rows=JSON_EXPLANATION_ROWS
        ),
    }
    with staged_output(out, overwrite=args.overwrite) as tmp:
        write_parquet(result.sample, tmp / "sample.parquet")
        write_parquet(explanations, tmp / "explanations.parquet")
        write_report(result.report, tmp, extra=extra, markdown_tail=top_rows_markdown(top))
        plots = render_plots(
            result.report, scores=scores, sample_scores=result.sample[SCORE_COLUMN].to_numpy()
        )
        for name, data in plots.items():
            write_bytes(tmp / name, data)
        html = render_html(result.report, top_rows=top, plots=plots, n_sampled=len(result.sample))
        write_text(tmp / "report.html", html)
        if args.write_scored:
            logger.info("writing every scored row to scored/")
            session.compute(scored_writer(result.scored, tmp / "scored"))
    logger.info(
        "%d rows selected (threshold %.6g); wrote %s (open report.html)",
        len(result.sample),
        result.report.threshold or float("nan"),
        out,
    )


# --------------------------------------------------------------------------- arguments
class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks; show the defaults that are set."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = any(action.default is v for v in (None, False, argparse.SUPPRESS))
        if action.option_strings and not unset:
            text += " (default: %(default)s)"
        return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(_positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers such as 64,32, got {text!r}"
        ) from None


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one column, got {text!r}")
    return names


def _add_io_args(parser: argparse.ArgumentParser) -> None:
    """INPUT..., --out, the sample size and the output switches (sample and score)."""
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="Parquet or CSV files, folders, glob patterns or URLs",
    )
    parser.add_argument(
        "--format",
        choices=FILE_FORMATS,
        default="auto",
        help="input format; auto decides from the file names",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--k", "-k", type=_positive_int, metavar="N", help="rows to select")
    size.add_argument(
        "--fraction", type=_fraction, metavar="F", help="share of the rows to select, in (0, 1]"
    )
    parser.add_argument(
        "--write-scored",
        action="store_true",
        help="also write every row with its score to DIR/scored/ (Parquet)",
    )
    parser.add_argument(
        "--report-rows",
        type=_positive_int,
        default=DEFAULT_REPORT_ROWS,
        metavar="N",
        help="sampled rows shown in report.html and report.md",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output folder (and --model-out file)",
    )


def _add_run_args(
    parser: argparse.ArgumentParser, *, default_workers: int | None, scheduler: bool = True
) -> None:
    """--scheduler (unless the command always uses a LocalCluster), --workers, --quiet."""
    if scheduler:
        parser.add_argument(
            "--scheduler",
            default="local",
            metavar="local|threads|processes|ADDRESS",
            help="local: a LocalCluster of worker processes; threads/processes: Dask's local "
            "schedulers; or a scheduler address like tcp://host:8786",
        )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=default_workers,
        metavar="N",
        help="worker processes (local), or threads/processes of Dask's local "
        "schedulers; by default one per core"
        if scheduler
        else "worker processes of the LocalCluster",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress and no information, only warnings and errors",
    )


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    """Feature columns, architecture and training options of ``sample``."""
    group = parser.add_argument_group("model and training")
    group.add_argument(
        "--columns",
        type=_name_list,
        metavar="A,B",
        help="feature columns (default: every usable column)",
    )
    group.add_argument(
        "--exclude",
        type=_name_list,
        metavar="A,B",
        help="columns never used as features (ids, timestamps, labels)",
    )
    group.add_argument(
        "--hidden-layers",
        type=_int_list,
        metavar="64,32",
        help="encoder widths (default: derived from the number of features)",
    )
    group.add_argument(
        "--bottleneck",
        type=_positive_int,
        metavar="N",
        help="code width (default: derived from the number of features)",
    )
    group.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_EPOCHS,
        metavar="N",
        help="passes over the training sample",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="rows per optimisation step",
    )
    group.add_argument(
        "--learning-rate",
        type=float,
        default=DEFAULT_LEARNING_RATE,
        metavar="LR",
        help="Adam's step size",
    )
    group.add_argument(
        "--dropout",
        type=float,
        default=DEFAULT_DROPOUT,
        metavar="P",
        help="share of hidden units dropped in each training step (0 turns it off)",
    )
    group.add_argument(
        "--members",
        type=_positive_int,
        default=DEFAULT_MEMBERS,
        metavar="N",
        help="autoencoders in the ensemble, trained side by side (1: a single one)",
    )
    group.add_argument(
        "--code-weight",
        type=_non_negative_float,
        default=DEFAULT_CODE_WEIGHT,
        metavar="W",
        help="weight of the bottleneck-code distance in the score (0: reconstruction only)",
    )
    group.add_argument(
        "--train-rows",
        type=_positive_int,
        default=DEFAULT_TRAIN_ROWS,
        metavar="N",
        help="rows in the training sample drawn across all partitions",
    )
    group.add_argument(
        "--training",
        choices=TRAINING_MODES,
        default=DEFAULT_TRAINING,
        help="sample: a seeded sample of --train-rows rows held in memory; "
        "stream: each epoch streams partitions, at most two in memory",
    )
    group.add_argument(
        "--stream-partitions",
        type=_positive_int,
        metavar="N",
        help="with --training stream: partitions visited per epoch "
        "(default: all, within --train-rows)",
    )
    group.add_argument(
        "--max-categories",
        type=_positive_int,
        default=DEFAULT_MAX_CATEGORIES,
        metavar="N",
        help="most frequent values one-hot encoded per text column",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_RANDOM_STATE,
        metavar="N",
        help="seeds the training sample, the weights and the batch order",
    )
    group.add_argument(
        "--device",
        choices=DEVICES,
        default=DEFAULT_DEVICE,
        help="where the network runs; auto uses a CUDA GPU when torch sees one",
    )
    group.add_argument(
        "--model-out",
        metavar="FILE",
        help="save the fitted model to FILE, for `dask-anomaly score`",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the ``dask-anomaly`` argument parser with its three commands."""
    parser = argparse.ArgumentParser(
        prog="dask-anomaly",
        formatter_class=_HelpFormatter,
        description="Find the most unusual rows of large Parquet or CSV tables with an "
        "autoencoder on Dask.",
        epilog="examples:\n  dask-anomaly sample data/*.parquet --out anomalies --k 100 "
        "--model-out model.zip\n  dask-anomaly score --model model.zip new-data/ --out today "
        "--k 100\n  dask-anomaly demo\n\nRun `dask-anomaly COMMAND --help` for its options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sample_command(commands)
    _add_score_command(commands)
    _add_demo_command(commands)
    return parser


def _add_sample_command(commands: Any) -> None:
    sample = commands.add_parser(
        "sample",
        help="fit a model on the input and select its most anomalous rows",
        description="Fit an autoencoder on INPUT, score every row, and write the most anomalous\n"
        "rows with reports to DIR: sample.parquet, explanations.parquet, report.json,\n"
        "report.md, report.html, loss.png and scores.png.",
        epilog=SAMPLE_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    _add_io_args(sample)
    _add_model_args(sample)
    _add_run_args(sample, default_workers=None)
    sample.set_defaults(run=run_sample)


def _add_score_command(commands: Any) -> None:
    score = commands.add_parser(
        "score",
        help="score new data with a saved model and select its sample",
        description="Score INPUT with a model saved by `sample --model-out` and write its most\n"
        "anomalous rows with reports to DIR. INPUT must have the columns the model was\n"
        "fitted on.",
        epilog=SCORE_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    score.add_argument("--model", required=True, metavar="FILE", help="a saved model file")
    score.add_argument("--device", choices=DEVICES, help="override the model's device")
    _add_io_args(score)
    _add_run_args(score, default_workers=None)
    score.set_defaults(run=run_score, seed=DEFAULT_RANDOM_STATE)


def _add_demo_command(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the built-in demo (planted anomalies on a LocalCluster)",
        description="Generate a table with planted anomalies, sample it on a LocalCluster and\n"
        "print the report.",
        epilog=DEMO_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    demo.add_argument("--out", default="demo-output", metavar="DIR", help="output folder")
    demo.add_argument(
        "--rows", type=_positive_int, default=200_000, metavar="N", help="rows to generate"
    )
    demo.add_argument(
        "--npartitions",
        type=_positive_int,
        default=8,
        metavar="N",
        help="partitions of the generated table",
    )
    demo.add_argument(
        "--k",
        "-k",
        type=_positive_int,
        default=100,
        metavar="N",
        help="rows to select (and anomalies planted)",
    )
    _add_run_args(demo, default_workers=2, scheduler=False)
    demo.set_defaults(run=run_demo)
