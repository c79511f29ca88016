"""SamplingReport contents and exports."""

from __future__ import annotations

import json

import pandas as pd

from dask_anomaly import AutoencoderSampler, SamplingReport

from .conftest import N_PLANTED


def test_report_fields(pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler) -> None:
    report = fitted_sampler.sample(pdf, k=N_PLANTED).report
    assert isinstance(report, SamplingReport)
    arch = report.architecture
    assert arch["layer_widths"] == fitted_sampler.module_.member_widths
    assert arch["members"] == fitted_sampler.n_members == 1
    assert arch["n_parameters"] == fitted_sampler.module_.n_parameters()
    assert "LeakyReLU" in arch["activation"] and "Xavier" in arch["initialisation"]
    assert "dropout 0.1 in training" in arch["activation"]
    assert report.feature_columns == fitted_sampler.feature_names_in_
    assert report.sample_size == N_PLANTED and report.rows_processed == len(pdf)
    assert report.partitions == 1 and report.random_state == 0
    assert report.training["training_rows"] == len(pdf) and report.training["epochs"] == 20
    assert report.loss_per_epoch == fitted_sampler.loss_history_
    assert set(report.timings) == {"fit", "score_and_select"}
    assert {"dask_anomaly", "dask", "torch", "pandas"} <= set(report.versions)
    assert report.dropped_columns == {}


def test_report_exports(pdf: pd.DataFrame, fitted_sampler: AutoencoderSampler) -> None:
    report = fitted_sampler.sample(pdf, k=3).report
    data = json.loads(report.to_json())
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["sample_size"] == 3 and data["threshold"] == report.threshold
    text = str(report)
    assert text == report.to_markdown()
    assert "sample size: **3** of 4,000 rows" in text and "loss per epoch" in text


def test_dropped_columns_named(pdf: pd.DataFrame) -> None:
    data = pdf.assign(constant=1.0)
    sampler = AutoencoderSampler(epochs=1, verbose=False, exclude=["row_id", "is_planted"])
    report = sampler.fit(data).sample(data, k=2).report
    assert report.dropped_columns == {"constant": "constant"}
    assert "constant (constant)" in report.to_markdown()
