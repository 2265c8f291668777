"""Where `/metrics` reads its values from: one process's registry, or every process's files.

Multiprocess mode is on when the environment variable ``PROMETHEUS_MULTIPROC_DIR`` names a directory
*before* prometheus_client is first imported (prometheus_client picks its value storage at import):
every process then writes its metric values to files there, and an export merges all files, so a scrape
that reaches any one gunicorn worker reports the sum over all of them. Without the variable, the
process's default registry is exported (runserver, tests, one process).

The web service sets the variable for gunicorn (`intellilog/gunicorn.conf.py` wipes the directory at
start and marks exited workers dead). A Celery worker exports its pool processes' metrics on its own
port (`WORKER_METRICS_PORT`), because the monitoring checks that set the drift, accuracy and quality
gauges run there; it needs its own directory, never the web's: the two are different PID namespaces in
containers and files are named by PID.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

logger = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    """The multiprocess directory when multiprocess mode is configured, else None."""
    value = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if value is None:
        return None
    if not value.strip():
        # prometheus_client would already be writing its files into the current directory.
        raise ImproperlyConfigured(f"{MULTIPROC_DIR_VARIABLE}: set but empty; unset it or name a directory")
    return Path(value.strip())


def metrics_registry() -> CollectorRegistry:
    """The registry to export: all processes' files in multiprocess mode, else this process's registry."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    # A fresh registry per export: the collector reads the files at collect time, and must not be mixed
    # with this process's in-memory registry (its values are already in the files).
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return registry


def multiprocess_dir_clear(directory: Path) -> int:
    """Delete every metric file left in ``directory`` (by an earlier run); returns how many were deleted.

    Called once when a server starts, before it forks: files of processes that no longer exist would
    otherwise be summed into the new run's counters forever.
    """
    directory.mkdir(parents=True, exist_ok=True)
    deleted = 0
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
        deleted += 1
    return deleted


def process_mark_dead(pid: int) -> None:
    """Drop an exited process's values of live-only gauges (multiprocess modes "live*"); counters stay."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(pid, path=str(directory))


def worker_metrics_start(*, port: int, address: str = "0.0.0.0") -> bool:
    """Serve this Celery worker's metrics on ``port`` from its main process; returns whether it started.

    Tasks run in pool processes forked after this call, so in multiprocess mode the main process's server
    sees their files. Without multiprocess mode only a single-process pool (solo, threads) is visible.
    """
    if port == 0:
        return False
    directory = multiprocess_dir()
    if directory is None:
        logger.warning(
            "WORKER_METRICS_PORT is set but %s is not: metrics recorded in prefork pool processes will not be exported",
            MULTIPROC_DIR_VARIABLE,
        )
    else:
        multiprocess_dir_clear(directory)
    start_http_server(port, addr=address, registry=metrics_registry())
    logger.info("worker metrics on %s:%d/metrics", address, port)
    return True
