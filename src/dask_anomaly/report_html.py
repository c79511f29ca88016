"""Human-readable reports: the self-contained ``report.html`` with its plots, and Markdown tables.

Plots are drawn with matplotlib's object API (``matplotlib.figure.Figure``, Agg canvas, no
pyplot global state), returned as PNG bytes, and embedded in the HTML as base64 data URIs, so
the one file can be mailed or archived. Nothing here touches the filesystem: the caller writes
the returned text and bytes (see :mod:`dask_anomaly.io`).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .config import RANK_COLUMN, SCORE_COLUMN
from .explain import CODE_CONTRIBUTION

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .report import SamplingReport

LOSS_PLOT = "loss.png"
SCORES_PLOT = "scores.png"
#: Rows shown in the HTML and Markdown tables.
DEFAULT_REPORT_ROWS = 20

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; }
ul.summary li { margin: 0.2em 0; }
.warnings { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.5em 1em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; flex: 1 1 480px; }
.plots img { width: 100%; border: 1px solid #eee; }
.table-wrap { overflow-x: auto; }
table.rows { border-collapse: collapse; font-size: 0.85em; }
table.rows th, table.rows td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
table.rows td:nth-child(4) { text-align: left; white-space: nowrap; font-weight: 600; }
table.rows tr:nth-child(even) { background: #f7f7f7; }
footer { margin-top: 2em; font-size: 0.85em; color: #666; }
"""


def _png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def loss_plot_png(loss: Sequence[float]) -> bytes:
    """Return a PNG plot of the mean training loss per epoch (log scale when it spans 10x).

    Examples
    --------
    >>> loss_plot_png([1.0, 0.5, 0.25])[:4]
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o", color="#1f77b4")
    positive = [x for x in loss if x > 0]
    if positive and max(positive) / min(positive) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (MSE)")
    ax.set_title("Training loss per epoch")
    ax.grid(alpha=0.3)
    if len(loss) <= 20:
        ax.set_xticks(epochs)
    return _png(fig)


def score_histogram_png(
    scores: np.ndarray, sample_scores: np.ndarray, threshold: float | None, *, n_rows: int
) -> bytes:
    """Return a PNG histogram of anomaly scores with the sample and the threshold marked.

    Parameters
    ----------
    scores : numpy.ndarray
        Scores of a random subset of all rows (or of all rows).
    sample_scores : numpy.ndarray
        Scores of the sampled rows, drawn on top in another colour.
    threshold : float or None
        The score of the last selected row.
    n_rows : int
        Rows scored in total (for the title).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> score_histogram_png(rng.lognormal(size=500), np.array([30.0, 40.0]), 30.0, n_rows=500)[:4]
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    scores = scores[np.isfinite(scores)]
    sample_scores = sample_scores[np.isfinite(sample_scores)]
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    edges, log_x = _score_bins(np.concatenate([scores, sample_scores]))
    bins = edges.tolist()
    if log_x:
        ax.set_xscale("log")
    shown = "all rows" if len(scores) >= n_rows else f"random subset ({len(scores):,} rows)"
    ax.hist(scores, bins=bins, color="#9aa5b1", label=shown)
    ax.hist(
        sample_scores,
        bins=bins,
        color="#d62728",
        alpha=0.8,
        label=f"sampled rows ({len(sample_scores):,})",
    )
    if threshold is not None:
        ax.axvline(
            threshold,
            color="#d62728",
            linestyle="--",
            linewidth=1.2,
            label=f"threshold {threshold:.4g}",
        )
    if len(scores) or len(sample_scores):
        ax.set_yscale("log")
    ax.set_xlabel("anomaly score (higher is more anomalous" + (", log scale)" if log_x else ")"))
    ax.set_ylabel("rows (log scale)")
    ax.set_title(f"Anomaly scores ({n_rows:,} rows scored)")
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)
    return _png(fig)


def _score_bins(values: np.ndarray, n_bins: int = 60) -> tuple[np.ndarray, bool]:
    """Return histogram bin edges and whether they are logarithmic (positive, > 50x spread)."""
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if low > 0 and high / low > 50:
        return np.geomspace(low, high, n_bins), True
    return np.linspace(low, high if high > low else low + 1.0, n_bins), False


def markdown_to_html(markdown: str) -> str:
    """Convert the report's simple Markdown (headings, bullets, bold) to escaped HTML.

    Examples
    --------
    >>> markdown_to_html("# T\\n- a: **1** <b>")
    '<h1>T</h1>\\n<ul class="summary">\\n<li>a: <strong>1</strong> &lt;b&gt;</li>\\n</ul>'
    """
    out: list[str] = []
    in_list = False
    for line in markdown.splitlines():
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line.strip()))
        is_item = text.startswith("- ")
        if in_list and not is_item:
            out.append("</ul>")
            in_list = False
        if is_item:
            if not in_list:
                out.append('<ul class="summary">')
                in_list = True
            out.append(f"<li>{text[2:]}</li>")
        elif text.startswith("#"):
            level = min(len(text) - len(text.lstrip("#")), 4)
            out.append(f"<h{level}>{text.lstrip('#').strip()}</h{level}>")
        elif text:
            out.append(f"<p>{text}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def _top_rows_html(top_rows: pd.DataFrame) -> str:
    """The top rows as an escaped HTML table (floats with 6 significant digits)."""
    return top_rows.to_html(
        classes="rows", border=0, escape=True, float_format=lambda x: f"{x:.6g}", na_rep="NA"
    )


def render_html(
    report: SamplingReport,
    *,
    top_rows: pd.DataFrame,
    plots: dict[str, bytes],
    n_sampled: int,
) -> str:
    """Return ``report.html``: summary, warnings, embedded plots and the top rows with features.

    Parameters
    ----------
    report : SamplingReport
    top_rows : pandas.DataFrame
        From :func:`dask_anomaly.explain.top_rows_table`.
    plots : dict of str to bytes
        PNG files by name (``loss.png``, ``scores.png``).
    n_sampled : int
        Rows in the whole sample (the table may show fewer).
    """
    summary = markdown_to_html(report.to_markdown())
    figures = "\n".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"><figcaption>{html.escape(name)}'
        "</figcaption></figure>"
        for name, data in plots.items()
    )
    shown = f"all {n_sampled} sampled rows"
    if len(top_rows) < n_sampled:
        shown = f"the top {len(top_rows)} of {n_sampled} sampled rows"
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>dask-anomaly report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head>
<body>
<section class="summary">{summary}</section>
<h2>Plots</h2>
<div class="plots">{figures}</div>
<h2>Top rows and why they were picked</h2>
<p>Showing {shown}. <em>top features</em>: the original columns with the largest share of the
row's anomaly score (one-hot and missing-indicator features summed into their column);
<em>{CODE_CONTRIBUTION}</em> is the part due to an unusual combination of values, measured in
the autoencoder's code space rather than in one column. Every sampled row and every column's
contribution: <code>sample.parquet</code> and <code>explanations.parquet</code>.</p>
<div class="table-wrap">{_top_rows_html(top_rows)}</div>
<footer>Written by dask-anomaly {html.escape(report.versions.get("dask_anomaly", ""))}.
Plots also as <code>{LOSS_PLOT}</code> and <code>{SCORES_PLOT}</code> next to this file.</footer>
</body>
</html>
"""


def top_rows_markdown(top_rows: pd.DataFrame) -> str:
    """Return a Markdown section with rank, score, index and top features of the top rows.

    Examples
    --------
    >>> t = pd.DataFrame({"anomaly_rank": [1], "anomaly_score": [2.5], "top_features": ["a 90%"]})
    >>> print(top_rows_markdown(t))
    <BLANKLINE>
    ## Top rows
    <BLANKLINE>
    | rank | score | index | top features |
    |---:|---:|---|---|
    | 1 | 2.5 | 0 | a 90% |
    <BLANKLINE>
    """
    header = ["| rank | score | index | top features |", "|---:|---:|---|---|"]
    lines = ["", "## Top rows", "", *header]
    for index, row in zip(top_rows.index, top_rows.itertuples(index=False), strict=True):
        cells = [
            str(getattr(row, RANK_COLUMN)),
            f"{getattr(row, SCORE_COLUMN):.6g}",
            str(index).replace("|", "\\|"),
            str(row.top_features).replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_plots(
    report: SamplingReport, *, scores: np.ndarray, sample_scores: np.ndarray
) -> dict[str, bytes]:
    """Return the report's plots as ``{"loss.png": ..., "scores.png": ...}``."""
    return {
        LOSS_PLOT: loss_plot_png(report.loss_per_epoch),
        SCORES_PLOT: score_histogram_png(
            scores, sample_scores, report.threshold, n_rows=report.rows_processed
        ),
    }
