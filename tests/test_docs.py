"""The documentation cannot rot: its examples run and the site builds strictly, offline.

* Every ```` ```python ```` block of README.md and docs/ runs. The blocks of one page run in
  order, in one namespace and a fresh working folder, as a reader would paste them. The
  README's examples read ``events/*.parquet`` and ``new-events/*.parquet``: small tables are
  written there first, and its placeholder scheduler address is replaced by the address of a
  scheduler this test starts on 127.0.0.1.
  A block right after the line ``<!-- skip-test -->`` (or ``<!-- skip-test: reason -->``) is
  not run: it needs what no test has, such as a remote cluster or a job queue.
* Shell blocks are not run (the cluster walkthrough test runs ``examples/cluster.sh``), but
  every ``dask-anomaly`` command in them must parse with the real argument parser, and every
  snippet include (``--8<-- "path"``) must name an existing file.
* The API reference names every public name, each with an example (in its docstring or on the
  page); the parameter table of the tuning guide matches the estimator's defaults.
* ``mkdocs build --strict`` succeeds without warnings and the site loads nothing from the
  network (skipped when MkDocs is not installed: ``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import dask_anomaly

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
#: A block right after this line is not run; ``<!-- skip-test: why -->`` gives the reason.
SKIP_MARKER = "<!-- skip-test"
PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
#: Placeholder scheduler addresses in examples, replaced by a scheduler started by the test.
ADDRESS_PLACEHOLDERS = ("tcp://scheduler-host:8786",)
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # 1-based line of the first code line
    lang: str
    code: str
    skip: bool

    @property
    def is_include(self) -> bool:
        """Only snippet includes (``--8<-- "path"``): the included file is tested elsewhere."""
        lines = [line.strip() for line in self.code.splitlines() if line.strip()]
        return bool(lines) and all(line.startswith("--8<--") for line in lines)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of ``page`` (indented ones too, e.g. in lists)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match["fence"]
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        before = [line.strip() for line in lines[:i] if line.strip()]
        skip = bool(before) and before[-1].startswith(SKIP_MARKER) and before[-1].endswith("-->")
        body = textwrap.dedent("\n".join(lines[i + 1 : end]))
        blocks.append(Block(page, i + 2, match["lang"].lower(), body, skip))
        i = end + 1
    return blocks


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


PYTHON_PAGES = [
    p
    for p in PAGES
    if any(b.lang in PYTHON and not (b.skip or b.is_include) for b in code_blocks(p))
]


# --------------------------------------------------------------------------- running examples
def _write_readme_events(folder: Path) -> None:
    """The files the README's examples read: ``events/`` (5,000 rows) and ``new-events/``.

    Both have an ``event_id`` column that is not a feature.
    """
    import dask.dataframe as dd

    from dask_anomaly.datasets import PLANTED_COLUMN, make_planted

    pdf = make_planted(7_000, n_anomalies=30, random_state=0)
    pdf = pdf.drop(columns=PLANTED_COLUMN).rename(columns={"row_id": "event_id"})
    for name, rows in (("events", pdf.iloc[:5_000]), ("new-events", pdf.iloc[5_000:])):
        dd.from_pandas(rows, npartitions=4).to_parquet(
            folder / name, write_index=False, name_function=lambda i: f"part-{i}.parquet"
        )


@contextlib.contextmanager
def _scheduler_for_placeholders(blocks: list[Block]) -> Iterator[str | None]:
    """A scheduler on 127.0.0.1 (in this process) when an example names a placeholder address."""
    if not any(p in b.code for b in blocks for p in ADDRESS_PLACEHOLDERS):
        yield None
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


def _close_clients(namespace: dict[str, object]) -> None:
    """Close the clients an example left open (as a reader's session would end)."""
    from distributed import Client, default_client

    for value in namespace.values():
        if isinstance(value, Client):
            value.close()
    for _ in range(10):  # also clients no name refers to any more (replaced, or never bound)
        try:
            default_client().close()
        except ValueError:
            break


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_page_id)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [b for b in code_blocks(page) if b.lang in PYTHON and not (b.skip or b.is_include)]
    monkeypatch.chdir(tmp_path)
    if page.name == "README.md":
        _write_readme_events(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    with _scheduler_for_placeholders(blocks) as address:
        try:
            for block in blocks:
                code = block.code
                for placeholder in ADDRESS_PLACEHOLDERS:
                    code = code.replace(placeholder, address or placeholder)
                # leading newlines: tracebacks show the line numbers of the page
                compiled = compile("\n" * (block.line - 1) + code, str(block.page), "exec")
                try:
                    exec(compiled, namespace)
                except Exception as exc:
                    raise AssertionError(f"the example at {block.where} failed: {exc!r}") from exc
        finally:
            _close_clients(namespace)


# --------------------------------------------------------------------------- shell examples
def _commands(code: str) -> list[list[str]]:
    """Commands of a shell block: continuation lines joined, comments and prompts removed."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("$ ")
        if not line or "$" in line or "<<" in line:  # variables and here-documents: not parsed
            continue
        command: list[str] = []
        for token in shlex.split(line, comments=True):
            if token in ("&&", "||", ";", "|"):
                commands.append(command)
                command = []
            else:
                command.append(token)
        commands.append(command)
    return [c for c in commands if c]


def indented_commands(page: Path) -> list[Block]:
    """``dask-anomaly`` lines of indented (four-space) code blocks, outside fenced blocks."""
    fenced = {b.line + i for b in code_blocks(page) for i in range(-1, b.code.count("\n") + 2)}
    lines = page.read_text(encoding="utf-8").splitlines()
    return [
        Block(page, n, "bash", line.strip(), skip=False)
        for n, line in enumerate(lines, start=1)
        if n not in fenced and re.match(r"^(?: {4}|\t)dask-anomaly ", line)
    ]


SHELL_BLOCKS = [
    *(b for p in PAGES for b in code_blocks(p) if b.lang in SHELL),
    *(b for p in PAGES for b in indented_commands(p)),
]


def test_shell_examples_use_real_options() -> None:
    cli = pytest.importorskip("dask_anomaly.cli")
    checked = 0
    for block in SHELL_BLOCKS:
        for argv in _commands(block.code):
            if argv[0] != "dask-anomaly":
                continue
            try:
                cli.build_parser().parse_args(argv[1:])
            except SystemExit as exc:
                assert exc.code == 0, f"{block.where}: `{shlex.join(argv)}` does not parse"
            checked += 1
    assert checked >= 5, "the docs should show the command line"


def test_snippet_includes_name_existing_files() -> None:
    includes = [
        (block, line.split("--8<--", 1)[1].strip().strip("\"'"))
        for page in PAGES
        for block in code_blocks(page)
        for line in block.code.splitlines()
        if line.strip().startswith("--8<--")
    ]
    assert includes, "the cluster guide includes examples/cluster.sh"
    for block, path in includes:
        assert (ROOT / path).is_file(), f"{block.where} includes a missing file {path!r}"


# --------------------------------------------------------------------------- reference and tuning
def test_api_reference_documents_every_public_name_with_an_example() -> None:
    page = DOCS / "reference" / "api.md"
    text = page.read_text(encoding="utf-8")
    examples = "\n".join(b.code for b in code_blocks(page) if b.lang in PYTHON)
    for name in dask_anomaly.__all__:
        assert f"dask_anomaly.{name}" in text, f"docs/reference/api.md does not name {name}"
        obj = getattr(dask_anomaly, name)
        documented = inspect.isclass(obj) or inspect.isfunction(obj)
        has_example = documented and "Examples\n" in (inspect.getdoc(obj) or "")
        on_page = re.search(rf"\b{re.escape(name)}\b", examples) is not None
        assert has_example or on_page, f"{name} has no example in its docstring or on {page.name}"


def _tuning_table() -> dict[str, str]:
    """``parameter -> default`` from the table of docs/guide/tuning.md."""
    rows = re.findall(
        r"^\|\s*`(\w+)`\s*\|\s*`([^`]*)`\s*\|", (DOCS / "guide" / "tuning.md").read_text(), re.M
    )
    return dict(rows)


def test_tuning_table_matches_the_estimator() -> None:
    params = inspect.signature(dask_anomaly.AutoencoderSampler).parameters
    table = _tuning_table()
    missing = sorted(set(params) - set(table))
    assert not missing, f"docs/guide/tuning.md's parameter table lacks {missing}"
    unknown = sorted(set(table) - set(params))
    assert not unknown, f"docs/guide/tuning.md documents parameters that do not exist: {unknown}"
    for name, shown in table.items():
        default = params[name].default
        assert ast.literal_eval(shown) == default, (
            f"docs/guide/tuning.md shows {name}={shown}, the default is {default!r}"
        )


def test_architecture_page_names_every_module() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    modules = {p.name for p in (ROOT / "src" / "dask_anomaly").glob("*.py")}
    named = set(re.findall(r"^\|\s*`(\w+\.py)`", text, flags=re.M))  # the module table
    assert not modules - named, f"docs/architecture.md's table lacks {sorted(modules - named)}"
    assert not named - modules, f"docs/architecture.md's table names gone {sorted(named - modules)}"


# --------------------------------------------------------------------------- the site
def test_docs_build_strictly_and_offline(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason='build the docs with: pip install -e ".[docs]"')
    pytest.importorskip("mkdocstrings", reason='build the docs with: pip install -e ".[docs]"')
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "WARNING" not in log, log
    remote = re.compile(r"""<(?:script|link|img)[^>]+(?:src|href)=["']https?://""")
    for html in site.rglob("*.html"):
        assert not remote.search(html.read_text(encoding="utf-8")), f"{html.name} loads a URL"
    api = (site / "reference" / "api.html").read_text(encoding="utf-8")
    for name in dask_anomaly.__all__:  # classes and functions are rendered from their docstrings
        if callable(getattr(dask_anomaly, name)):
            assert f'id="dask_anomaly.{name}"' in api, f"{name} is not rendered in api.html"
