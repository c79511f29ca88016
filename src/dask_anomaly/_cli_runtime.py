"""The runtime of one ``dask-anomaly`` command: console output and where computations run.

:func:`console` routes the library's logs and warnings to stderr; :func:`open_session` starts
what runs the computations (a LocalCluster, Dask's local schedulers, or a client of a running
scheduler) and shows progress bars. Only the command line uses this module: library code never
starts a cluster.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask

from .exceptions import DaskAnomalyWarning

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger("dask_anomaly.cli")

SCHEDULERS = ("local", "threads", "processes")


# --------------------------------------------------------------------------- console
class _ConsoleFormatter(logging.Formatter):
    """Plain messages; warnings and errors prefixed like the ``error:`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


class _Seen(logging.Filter):
    """Prints warnings once: a message logged as a warning is not repeated when also warned."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Remember warning messages on their way to stderr."""
        if record.levelno >= logging.WARNING:
            self.messages.add(record.getMessage())
        return True

    def show_warning(
        self, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
    ) -> None:
        """Replacement for :func:`warnings.showwarning`: ``warning: <message>`` on stderr."""
        text = " ".join(str(message).split())
        if text not in self.messages:
            self.messages.add(text)
            prefix = "" if issubclass(category, DaskAnomalyWarning) else f"{category.__name__}: "
            print(f"warning: {prefix}{text}", file=sys.stderr)


@contextlib.contextmanager
def console(*, quiet: bool) -> Iterator[None]:
    """Route the library's logs and warnings to stderr for the duration of one command."""
    seen = _Seen()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter())
    handler.addFilter(seen)
    package = logging.getLogger("dask_anomaly")
    saved = package.level, package.propagate
    package.addHandler(handler)
    package.setLevel(logging.WARNING if quiet else logging.INFO)
    package.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", DaskAnomalyWarning)
            warnings.showwarning = seen.show_warning
            yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


# --------------------------------------------------------------------------- schedulers
@dataclass
class Session:
    """Where computations run (``client`` None: a local Dask scheduler) and whether to show bars."""

    client: Client | None
    progress: bool

    def compute(self, obj: Any) -> Any:
        """Compute one Dask object, with a progress bar when asked."""
        if self.client is None:
            (value,) = dask.compute(obj)
            return value
        future = self.client.compute(obj)
        if self.progress:
            _distributed_progress(self.client, [future])
        return future.result()

    @property
    def select_client(self) -> Any:
        """The client to give :func:`select_sample`: wrapped to show progress when asked."""
        if self.client is not None and self.progress:
            return _ProgressClient(self.client)
        return self.client


class _ProgressClient:
    """A Client stand-in for the library's ``compute(..., client=)`` that shows progress."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def compute(self, objs: Any) -> Any:
        """Submit ``objs`` like ``Client.compute`` and wait for them behind a progress bar."""
        futures = self._client.compute(objs)
        _distributed_progress(self._client, futures if isinstance(futures, list) else [futures])
        return futures

    def gather(self, futures: Any) -> Any:
        """``Client.gather``."""
        return self._client.gather(futures)


def _distributed_progress(client: Client, futures: list[Any]) -> None:
    """Show distributed's text progress bar on stderr until ``futures`` finish."""
    from distributed import progress

    with contextlib.redirect_stdout(sys.stderr):  # the bar writes to stdout, results go to files
        progress(*futures, multi=False, scheduler=client.scheduler.address)
    print(file=sys.stderr)


@contextlib.contextmanager
def open_session(scheduler: str, *, workers: int | None, quiet: bool) -> Iterator[Session]:
    """Start (and finally stop) what runs the computations.

    ``local`` starts a LocalCluster of single-threaded worker processes with the worker
    environment of :data:`~dask_anomaly.parallel.WORKER_ENVIRON`; ``threads`` and ``processes``
    use Dask's local schedulers; anything else is the address of a running scheduler.
    """
    progress = not quiet and sys.stderr.isatty()
    if scheduler in ("threads", "processes"):
        config: dict[str, Any] = {"scheduler": scheduler}
        if workers:
            config["num_workers"] = workers
        with dask.config.set(config), _local_progress(progress):
            yield Session(None, progress)
    elif scheduler == "local":
        with _local_cluster(workers) as client:
            yield Session(client, progress)
    else:
        with _remote_client(scheduler, workers) as client:
            yield Session(client, progress)


@contextlib.contextmanager
def _local_progress(enabled: bool) -> Iterator[None]:
    """Dask's local progress bar (on stderr) for every computation longer than a second."""
    if not enabled:
        yield
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=1.0, out=sys.stderr):
        yield


@contextlib.contextmanager
def _local_cluster(workers: int | None) -> Iterator[Client]:
    """A LocalCluster with the library's worker environment, and a Client on it."""
    from distributed import Client, LocalCluster

    from .parallel import worker_environment

    with (
        worker_environment(),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info(
            "LocalCluster with %d worker processes; %s", len(cluster.workers), _dashboard(client)
        )
        yield client


@contextlib.contextmanager
def _remote_client(address: str, workers: int | None) -> Iterator[Client]:
    """A Client connected to a running scheduler."""
    if ":" not in address:
        raise ValueError(
            f"--scheduler must be one of {list(SCHEDULERS)} or a scheduler address such as "
            f"tcp://host:8786, got {address!r}."
        )
    if workers:
        raise ValueError("--workers applies to --scheduler local, threads or processes only.")
    from distributed import Client

    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"Cannot connect to the Dask scheduler at {address!r}: {exc}") from exc
    with client:
        logger.info("connected to %s; dashboard: %s", address, client.dashboard_link)
        yield client


def _dashboard(client: Client) -> str:
    """The dashboard link, or how to get one."""
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        return "no dashboard (pip install bokeh to get one)"
    return f"dashboard: {client.dashboard_link}"
