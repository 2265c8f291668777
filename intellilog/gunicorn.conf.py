"""Gunicorn settings for the web service (docker-compose, the Dockerfile, and by hand):

    gunicorn intellilog.wsgi:application -c intellilog/gunicorn.conf.py --bind 0.0.0.0:8000

Processes and threads, for the 2-core machines IntelliLog runs on: a prediction is mostly CPU (features,
XGBoost, TreeSHAP: a few ms) plus waits on PostgreSQL (the audit row) and Redis (features). Three worker
processes (cores + 1) keep both cores busy while one process waits; two threads each overlap those waits
without loading the models again (every process holds its own champion cache, numpy/pandas/XGBoost: a few
hundred MB). More processes than that on 2 cores only add memory and context switches. WEB_CONCURRENCY
and GUNICORN_THREADS override both.

Metrics: several processes each count their own requests, and a scrape reaches one of them, so
prometheus_client runs in multiprocess mode (`monitoring/exporter.py`): PROMETHEUS_MULTIPROC_DIR is set
here if the environment did not set it (a fresh temporary directory), wiped when the server starts, and an
exited worker is marked dead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Must happen before prometheus_client is first imported (below, and in every worker forked from here):
# it picks file-backed metric values only when the variable is already set.
# A reload (HUP) runs this file again with the variable already set, so which directory this file created
# is remembered in the environment too (internal marker, not configuration).
_OWNED_DIR_MARKER = "_INTELLILOG_GUNICORN_OWNED_MULTIPROC_DIR"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="intellilog-prometheus-")
    os.environ[_OWNED_DIR_MARKER] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
MULTIPROC_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

from intellilog.env import env_int  # noqa: E402  (after the variable above)
from monitoring.exporter import multiprocess_dir_clear, process_mark_dead  # noqa: E402

wsgi_app = "intellilog.wsgi:application"
workers = env_int("WEB_CONCURRENCY", 3, minimum=1)
threads = env_int("GUNICORN_THREADS", 2, minimum=1)
# The prediction path answers in milliseconds; a request still running after 30 s is stuck, not slow.
timeout = 30
graceful_timeout = 30
keepalive = 5
# No recycling after a number of requests (gunicorn's default, max_requests = 0). It was 5000 (+ up to 500):
# under load a recycled worker closed its keep-alive connections while clients were sending POSTs on them,
# and those predictions failed with a reset that a client cannot safely retry; the new worker also paid
# Django's and the model's load (the 0.3-1 s p99 spikes of bench/load_faults.py). What it guarded against
# does not grow with requests here: each worker caches one serving model per tenant (replaced, not added,
# on promotion) and at most CHALLENGER_CACHE_SIZE challengers, and predictions allocate per call.
# Workers still exit on a crash or a timeout; `child_exit` below covers those.
max_requests = 0
# Never load the app in the master: its metric files would belong to a process that serves nothing, and
# each worker must open its own database and Redis connections.
preload_app = False
# Gunicorn 25+ opens a control socket under $HOME by default; the container user has no home, and
# signals (HUP to reload, TERM to stop) are all the operations need. Older versions ignore the name.
control_socket_disable = True
# The workers' heartbeat files: on tmpfs, so a slow container disk cannot make healthy workers look dead.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"


def on_starting(server: object) -> None:
    """Before any worker exists: drop metric files of an earlier run, which would be summed in forever."""
    multiprocess_dir_clear(MULTIPROC_DIR)


def post_worker_init(worker: object) -> None:
    """In each new worker, once Django is loaded and before it accepts: load the tenants' serving models.

    So a fresh worker's first request does not pay the artifact read, checksum and booster load (about half
    a second per model). A failure is logged, never fatal: a worker must start while PostgreSQL is down,
    and its requests then load the model on first use as before.
    """
    from django.db import connections

    from predictions.services import serving_models_preload

    log = worker.log  # type: ignore[attr-defined]
    try:
        loaded = serving_models_preload(heartbeat=worker.notify)  # type: ignore[attr-defined]
    except Exception:
        log.exception("preloading the serving models failed; each loads on its first request")
    else:
        log.info("preloaded %d serving model(s): %s", len(loaded), ", ".join(str(m.version) for m in loaded))
    finally:
        # With threads, this thread serves no request (gthread hands them to a pool): drop its connection.
        connections.close_all()


def child_exit(server: object, worker: object) -> None:
    """In the master, after a worker exited (recycled, crashed or killed): drop its live-only gauge values."""
    process_mark_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """Remove the directory this file created (one the environment named is left for its owner)."""
    owned_dir = os.environ.get(_OWNED_DIR_MARKER)
    if owned_dir:
        shutil.rmtree(owned_dir, ignore_errors=True)
