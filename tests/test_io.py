"""Reading Parquet/CSV inputs in every accepted shape; staged, atomic output folders."""

from __future__ import annotations

import os
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest

from dask_anomaly.io import (
    check_output_file,
    check_output_folder,
    read_frame,
    staged_output,
)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.5, 2.0, 3.0, 4.0, 5.0, 6.0], "b": list("xyzxyz")})


@pytest.fixture(scope="module")
def files(small: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    dd.from_pandas(small, npartitions=2).to_parquet(root / "dataset", write_index=False)
    (root / "dataset" / "_SUCCESS").write_text("")
    small.to_parquet(root / "one.parquet", index=False)
    (root / "csvs").mkdir()
    small.iloc[:3].to_csv(root / "csvs" / "part1.csv", index=False)
    small.iloc[3:].to_csv(root / "csvs" / "part2.csv", index=False)
    small.to_csv(root / "all.csv.gz", index=False)
    small.to_csv(root / "noext", index=False)
    (root / "empty").mkdir()
    return root


def _rows(ddf: dd.DataFrame) -> pd.DataFrame:
    return ddf.compute(scheduler="sync").reset_index(drop=True)


@pytest.mark.parametrize(
    "inputs",
    [
        ["dataset"],
        ["one.parquet"],
        ["dataset/*.parquet"],
        ["csvs"],
        ["csvs/*.csv"],
        ["csvs/part1.csv", "csvs/part2.csv"],
        ["all.csv.gz"],
    ],
)
def test_read_frame_accepts_files_folders_globs(
    files: Path, small: pd.DataFrame, inputs: list[str]
) -> None:
    ddf = read_frame([str(files / p) for p in inputs])
    got = _rows(ddf)
    assert got["a"].tolist() == small["a"].tolist()
    assert got["b"].astype(str).tolist() == small["b"].tolist()


def test_read_frame_accepts_urls(files: Path, small: pd.DataFrame) -> None:
    assert len(_rows(read_frame([f"file://{files / 'one.parquet'}"]))) == len(small)
    import fsspec

    with fsspec.open("memory://bucket/t.parquet", "wb") as fh:
        small.to_parquet(fh, index=False)
    assert _rows(read_frame(["memory://bucket/*.parquet"]))["a"].tolist() == small["a"].tolist()


def test_csv_integers_are_read_as_floats_to_survive_missing_values(files: Path) -> None:
    ddf = read_frame([str(files / "csvs")])
    assert ddf.dtypes["a"] == "float64"


def test_format_option_for_unusual_names(files: Path, small: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="Cannot tell the format"):
        read_frame([str(files / "noext")])
    assert len(_rows(read_frame([str(files / "noext")], file_format="csv"))) == len(small)


@pytest.mark.parametrize(
    "inputs,error,message",
    [
        (["missing.parquet"], FileNotFoundError, "does not exist"),
        (["nothing*.parquet"], FileNotFoundError, "No file matches"),
        (["empty"], ValueError, "holds no .parquet or .csv"),
        (["one.parquet", "all.csv.gz"], ValueError, "mix Parquet and CSV"),
    ],
)
def test_read_frame_errors(files: Path, inputs: list[str], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        read_frame([str(files / p) for p in inputs])


def test_read_frame_argument_checks(files: Path) -> None:
    with pytest.raises(ValueError, match="file_format must be one of"):
        read_frame([str(files / "one.parquet")], file_format="json")
    with pytest.raises(ValueError, match="non-empty list"):
        read_frame(str(files / "one.parquet"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Cannot open input"):
        read_frame(["nosuchprotocol://x/y.parquet"])


def test_staged_output_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_output(out) as tmp:
        (tmp / "sample.parquet").write_text("partial")
        assert not out.exists()
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []  # neither out nor the temporary folder
    with staged_output(out) as tmp:
        (tmp / "a").write_text("1")
    assert os.listdir(tmp_path) == ["out"] and (out / "a").read_text() == "1"
    reference = tmp_path / "reference"
    reference.mkdir()  # the output gets the usual permissions, not mkdtemp's 0o700
    assert out.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    with pytest.raises(FileExistsError, match="--overwrite"), staged_output(out):
        pass
    with staged_output(out, overwrite=True) as tmp:
        (tmp / "new").write_text("new")
        assert (out / "old").exists()  # the old output stays until the new one is complete
    assert os.listdir(out) == ["new"] and os.listdir(tmp_path) == ["out"]


def test_output_may_not_overlap_an_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for out, inputs in [
        (data, [str(data)]),
        (tmp_path, [str(data / "*.csv")]),
        (data / "sub", [f"file://{data}"]),
    ]:
        with pytest.raises(ValueError, match="overlaps the input"):
            check_output_folder(out, overwrite=True, inputs=inputs)
    check_output_folder(tmp_path / "elsewhere", overwrite=False, inputs=[str(data), "s3://b/k"])
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="not a folder"):
        check_output_folder(tmp_path / "file", overwrite=True)


def test_check_output_file(tmp_path: Path) -> None:
    (tmp_path / "m.zip").write_text("")
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_output_file(tmp_path / "m.zip", overwrite=False)
    assert check_output_file(tmp_path / "m.zip", overwrite=True) == tmp_path / "m.zip"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_output_file(tmp_path / "no" / "m.zip", overwrite=False)
    with pytest.raises(IsADirectoryError):
        check_output_file(tmp_path, overwrite=True)
