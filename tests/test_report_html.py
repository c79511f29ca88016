"""report.html and the plots: self-contained, escaped, with the summary, plots and top rows."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from dask_anomaly.config import RANK_COLUMN, SCORE_COLUMN
from dask_anomaly.report import SamplingReport
from dask_anomaly.report_html import (
    LOSS_PLOT,
    SCORES_PLOT,
    loss_plot_png,
    markdown_to_html,
    render_html,
    render_plots,
    score_histogram_png,
    top_rows_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def report() -> SamplingReport:
    return SamplingReport(
        architecture={
            "layer_widths": [3, 8, 2, 8, 3],
            "activation": "LeakyReLU",
            "initialisation": "Xavier",
            "n_parameters": 99,
        },
        feature_columns=["amount", "<b>city</b>"],
        model_features=["amount", "<b>city</b>=a"],
        dropped_columns={"when": "datetime"},
        sample_size=2,
        requested={"k": 2, "fraction": None},
        rows_processed=1000,
        partitions=4,
        training={
            "mode": "sample",
            "training_rows": 1000,
            "epochs": 3,
            "batch_size": 256,
            "learning_rate": 0.001,
            "rows_seen_by_fit": 1000,
            "partitions_seen_by_fit": 4,
        },
        loss_per_epoch=[1.0, 0.5, 0.4],
        threshold=7.5,
        random_state=0,
        timings={"fit": 1.0, "score_and_select": 0.5},
        warnings=["small sample & <risky>"],
    )


@pytest.fixture()
def top_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            RANK_COLUMN: [1, 2],
            SCORE_COLUMN: [9.0, 7.5],
            "top_features": ["amount 90%, <b>city</b> 10%", "amount 60%"],
            "amount": [1e6, 3.0],
            "<b>city</b>": ["<script>alert(1)</script>", "a|b"],
        },
        index=[41, 7],
    )


def test_plots_are_pngs() -> None:
    assert loss_plot_png([1.0]).startswith(PNG)
    assert loss_plot_png([100.0, 1.0, 0.5]).startswith(PNG)  # log scale path
    rng = np.random.default_rng(0)
    assert score_histogram_png(
        rng.lognormal(size=300), np.array([50.0]), 50.0, n_rows=300
    ).startswith(PNG)
    assert score_histogram_png(np.ones(10), np.ones(1), None, n_rows=10).startswith(PNG)
    assert score_histogram_png(np.array([]), np.array([]), None, n_rows=0).startswith(PNG)


def test_render_html_is_self_contained_and_escaped(
    report: SamplingReport, top_rows: pd.DataFrame
) -> None:
    plots = render_plots(report, scores=np.linspace(0.1, 8, 200), sample_scores=np.array([9, 7.5]))
    assert list(plots) == [LOSS_PLOT, SCORES_PLOT]
    page = render_html(report, top_rows=top_rows, plots=plots, n_sampled=2)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(i) for i in images] == list(plots.values())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>city</b>" not in page and "small sample &amp; &lt;risky&gt;" in page
    assert "sample size: <strong>2</strong>" in page
    assert "amount 90%" in page and "all 2 sampled rows" in page
    assert 'src="http' not in page and "<link" not in page  # nothing fetched from elsewhere


def test_render_html_says_when_it_shows_part_of_the_sample(
    report: SamplingReport, top_rows: pd.DataFrame
) -> None:
    page = render_html(report, top_rows=top_rows.head(1), plots={}, n_sampled=50)
    assert "the top 1 of 50 sampled rows" in page


def test_markdown_to_html() -> None:
    html = markdown_to_html("# Title\n\n- a **b**\n- c\n\n## Warnings\n\ntext <x>")
    assert html.splitlines() == [
        "<h1>Title</h1>",
        '<ul class="summary">',
        "<li>a <strong>b</strong></li>",
        "<li>c</li>",
        "</ul>",
        "<h2>Warnings</h2>",
        "<p>text &lt;x&gt;</p>",
    ]


def test_top_rows_markdown_escapes_pipes(top_rows: pd.DataFrame) -> None:
    text = top_rows_markdown(top_rows.assign(top_features=["a|b 90%", "c 1%"]))
    lines = text.strip().splitlines()
    assert lines[0] == "## Top rows"
    assert lines[4] == "| 1 | 9 | 41 | a\\|b 90% |"
    assert len(lines) == 6
