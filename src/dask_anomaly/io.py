"""Reading inputs and writing outputs: the library's filesystem code.

:func:`read_frame` turns Parquet or CSV files, folders, globs and URLs into one lazy Dask
DataFrame. Outputs are written into a hidden temporary sibling of the output folder, which is
renamed into place only when everything is written (:func:`staged_output`), so an interrupted
run never leaves a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.dataframe as dd
import pandas as pd

if TYPE_CHECKING:
    from .report import SamplingReport

PARQUET = "parquet"
CSV = "csv"
FILE_FORMATS = ("auto", PARQUET, CSV)
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst")
_GLOB_CHARS = "*?["


def read_frame(
    inputs: Sequence[str | os.PathLike[str]], *, file_format: str = "auto"
) -> dd.DataFrame:
    """Return the rows of Parquet or CSV inputs as one lazy Dask DataFrame.

    Parameters
    ----------
    inputs : sequence of str or path-like
        Files, folders (a Parquet dataset, or a folder of CSV files), glob patterns, or URLs
        any fsspec filesystem understands (``s3://...``, ``gs://...``, ``file://...``).
    file_format : {"auto", "parquet", "csv"}, default="auto"
        "auto" decides from the file names (``.parquet``/``.parq``/``.pq``, ``.csv`` and
        compressed ``.csv.gz`` ...). All inputs must have one format.

    Returns
    -------
    dask.dataframe.DataFrame

    Raises
    ------
    FileNotFoundError
        If an input does not exist or a glob matches nothing.
    ValueError
        If the format cannot be told, the inputs mix formats, or a folder holds no data file.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(path, index=False)
    >>> read_frame([path]).compute().shape
    (2, 2)
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {list(FILE_FORMATS)}, got {file_format!r}.")
    if isinstance(inputs, (str, os.PathLike)) or not inputs:
        raise ValueError(f"inputs must be a non-empty list of paths, got {inputs!r}.")
    resolved = [_resolve_input(os.fspath(p), file_format) for p in inputs]
    formats = sorted({fmt for fmt, _ in resolved})
    if len(formats) > 1:
        raise ValueError(
            f"The inputs mix Parquet and CSV files ({[os.fspath(p) for p in inputs]}); "
            "convert them to one format or run them separately."
        )
    if formats[0] == PARQUET:
        if len(resolved) == 1 and len(resolved[0][1]) == 1:
            return dd.read_parquet(resolved[0][1][0])
        return dd.read_parquet([path for _, paths in resolved for path in paths])
    paths = [path for _, found in resolved for path in found]
    compressed = any(not path.lower().endswith(".csv") for path in paths)
    return dd.read_csv(
        paths, assume_missing=True, blocksize=None if compressed else "64MiB", compression="infer"
    )


def _resolve_input(path: str, file_format: str) -> tuple[str, list[str]]:
    """Return ``(format, paths)`` for one input: a file, a folder, a glob or a URL."""
    try:
        import fsspec

        fs, stripped = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"Cannot open input {path!r}: {exc}") from exc
    if any(c in path for c in _GLOB_CHARS):
        matches = sorted(p for p in fs.glob(stripped) if not fs.isdir(p))
        if not matches:
            raise FileNotFoundError(f"No file matches the input pattern {path!r}.")
        return _format_of(matches, file_format, path), [_full_path(fs, p) for p in matches]
    if fs.isdir(stripped):
        files = sorted(p for p in fs.find(stripped) if not _is_hidden(p, stripped))
        data = [p for p in files if _suffix_format(p) is not None]
        if file_format == "auto" and not data:
            raise ValueError(
                f"Input folder {path!r} holds no .parquet or .csv file; pass files or --format."
            )
        fmt = _format_of(data or files, file_format, path)
        if fmt == PARQUET:
            return fmt, [path]  # let Dask read the dataset (hive partitions, _metadata)
        return fmt, [_full_path(fs, p) for p in (data or files) if _suffix_format(p) in (CSV, None)]
    if not fs.exists(stripped):
        raise FileNotFoundError(f"Input {path!r} does not exist.")
    return _format_of([stripped], file_format, path), [path]


def _full_path(fs: Any, path: str) -> str:
    """Put the protocol back on a path listed by a remote filesystem (local paths stay plain)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else fs.unstrip_protocol(path)


def _is_hidden(path: str, root: str) -> bool:
    """Files such as ``_SUCCESS``, ``_metadata``, ``.crc`` inside a dataset folder."""
    relative = path[len(root.rstrip("/")) :].lstrip("/")
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _suffix_format(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return PARQUET
    if lower.endswith(CSV_SUFFIXES):
        return CSV
    return None


def _format_of(paths: Sequence[str], file_format: str, shown: str) -> str:
    """Return the one format of ``paths`` (or ``file_format`` when it is not "auto")."""
    if file_format != "auto":
        return file_format
    formats = {_suffix_format(p) for p in paths}
    if None in formats or len(formats) != 1:
        raise ValueError(
            f"Cannot tell the format of input {shown!r} from its file names; "
            "use .parquet or .csv names, or pass --format parquet|csv."
        )
    return formats.pop()  # type: ignore[return-value]


def local_input_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Return the local inputs (not URLs) as absolute paths; a glob gives its fixed folder."""
    paths = []
    for raw in [os.fspath(p) for p in inputs]:
        if "://" in raw and not raw.startswith("file://"):
            continue
        raw = raw.removeprefix("file://")
        cut = min((raw.index(c) for c in _GLOB_CHARS if c in raw), default=len(raw))
        paths.append(Path(os.path.dirname(raw[:cut]) if cut < len(raw) else raw).resolve())
    return paths


def check_output_folder(
    out: str | os.PathLike[str], *, overwrite: bool, inputs: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """Check that ``out`` may be written; return it as a Path.

    Raises
    ------
    FileExistsError
        If ``out`` exists and ``overwrite`` is False, or it exists and is not a folder.
    ValueError
        If ``out`` is, contains or lies inside an input (overwriting it would destroy the input).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} exists and is not a folder.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"Output folder {str(out)!r} exists; pass --overwrite to replace it.")
    target = out.resolve()
    for path in local_input_paths(inputs):
        if target == path or target in path.parents or path in target.parents:
            raise ValueError(
                f"Output folder {str(out)!r} overlaps the input {str(path)!r}; "
                "choose another --out."
            )
    return out


def check_output_file(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Check that the file ``path`` may be written (its folder exists; replace only if allowed)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"File {str(path)!r} exists; pass --overwrite to replace it.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The folder of {str(path)!r} does not exist.")
    return path


@contextlib.contextmanager
def staged_output(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; rename it to ``out`` when the block succeeds.

    On failure (or interruption) the temporary folder is removed and ``out`` is left as it was.
    With ``overwrite``, an existing ``out`` is replaced only after everything was written.

    Examples
    --------
    >>> root = tempfile.mkdtemp()
    >>> with staged_output(os.path.join(root, "out")) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(os.listdir(root)), os.listdir(os.path.join(root, "out"))
    (['out'], ['a.txt'])
    """
    out = Path(out)
    check_output_folder(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    tmp.mkdir()  # not mkdtemp: the folder gets the usual permissions, like any other output
    try:
        yield tmp
        _commit(tmp, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _commit(tmp: Path, out: Path, *, overwrite: bool) -> None:
    """Move the finished ``tmp`` folder to ``out``, replacing an old ``out`` when allowed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    check_output_folder(out, overwrite=overwrite)
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def write_parquet(pdf: pd.DataFrame, path: Path) -> Path:
    """Write a pandas frame to one Parquet file (its index kept, as pandas does)."""
    pdf.to_parquet(path)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text."""
    path.write_text(text, encoding="utf-8")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write bytes."""
    path.write_bytes(data)
    return path


def write_report(
    report: SamplingReport,
    folder: Path,
    *,
    extra: dict[str, Any] | None = None,
    markdown_tail: str = "",
) -> list[Path]:
    """Write ``report.json`` and ``report.md`` into ``folder``.

    Parameters
    ----------
    report : SamplingReport
    folder : pathlib.Path
    extra : dict or None, default=None
        Keys added to the JSON report (for example the explanations).
    markdown_tail : str, default=""
        Markdown appended to the report's own (for example the top rows).

    Returns
    -------
    list of pathlib.Path
    """
    data = {**report.to_dict(), **(extra or {})}
    return [
        write_text(folder / "report.json", json.dumps(data, indent=2, default=str) + "\n"),
        write_text(folder / "report.md", report.to_markdown() + markdown_tail),
    ]


def scored_writer(scored: dd.DataFrame, path: Path) -> Any:
    """Return the lazy write of every scored row to a Parquet folder (compute it to run it)."""
    write_index = scored.index.name is not None
    return scored.to_parquet(path, write_index=write_index, compute=False)
