"""Serving benchmark: the production server under concurrent load, beside `mlflow models serve`, plus batch.

    .venv/bin/python bench/serving.py --profile 500   # full run, ~6 min (+15 s of training the first time)
    .venv/bin/python bench/serving.py --quick         # smoke run, ~2 min: seconds per level, 5k-row batch

One run, all on 127.0.0.1:

1. Setup: its own PostgreSQL database (``--database-url``, created and migrated here), a tenant with the
   bundled delivery history imported (a synthetic one when ``../shared`` is absent), a trained and
   promoted ETA model (reused when the tenant already has a champion), features materialised into Redis
   under the benchmark's own key prefix, and a fresh API key with a rate limit the load cannot reach.
2. Gunicorn with ``intellilog/gunicorn.conf.py`` (DEBUG=false, SECRET_KEY and ALLOWED_HOSTS set), one
   server per worker x thread option of ``--configs``, all up at once and loaded in turns at concurrency 8;
   the one with the most req/s is kept. Orders are realistic and varied (history rows re-timed to the last
   24 hours, so the online store serves them; a unique order id per request); every 2xx must carry an
   explanation and add exactly one audit row (rows counted before and after, audit ids distinct).
3. The same artifact as an MLflow pyfunc (``bench/mlflow_pyfunc.py``) under ``mlflow models serve
   --env-manager local`` with as many worker processes, loaded the same way with one-row
   ``dataframe_split`` requests holding the same orders' feature vectors. At each ``--levels`` concurrency
   both servers take alternating rounds (``--rounds``, after a warm-up), so a neighbour's load hits both;
   besides req/s and latency, each row reports CPU ms per request of the server's process group (plus,
   for ours, its PostgreSQL backends) and of the client, which a busy machine distorts least.
4. Batch: ``--batch-rows`` orders sampled with replacement from the history file (unique ids) scored by
   ``manage.py predict_batch``, which audits every row (one ``PredictionAudit`` each, copied in bulk;
   counted here), against raw ``inplace_predict`` of the same two boosters on the same rows' encoded
   matrix (one thread each, as served). The target: audited batch rows/s (features + predictions + audit
   rows stages) at least half of raw ``inplace_predict``'s. ``--batch-only`` runs setup and this step alone:

    .venv/bin/python bench/serving.py --batch-only --batch-rows 20000

The load generator is a separate process (threads, one persistent ``http.client`` connection each); it
shares the 2 cores with the server, so the figures are what one machine can do end to end, not the
server alone. Results: a table on stdout, JSON and a markdown summary under bench/results/. Every
server started here is stopped at the end (process groups), also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing
import os
import platform
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/intellilog_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Own Redis prefixes: the Redis is shared with the test suite and other benchmarks.
FEATURE_PREFIX = "bench-serving:features"
RATE_LIMIT_PREFIX = "bench-serving:ratelimit"
TENANT_SLUG = "bench-serving"
ETA_PATH = "/api/v1/predictions/eta"
INFO_PATH = "/api/v1/models/info"
HOST = "127.0.0.1"
# High enough that the per-key limiter never refuses the benchmark's own load.
BENCH_RATE_LIMIT_PER_MINUTE = 100_000_000
SYNTHETIC_ROWS = 30_000
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
# Issue 4's targets on a 2-core machine.
TARGET_P99_MS = {1: 15.0, 8: 50.0}
TARGET_MLFLOW_RATIO = 4.0
TARGET_BATCH_RATIO = 0.5
RATIO_CONCURRENCY = 8

_STAGE_LINE = re.compile(r"^… (?P<stage>.+): (?P<seconds>[0-9.]+) s$")
_AUDIT_ID = re.compile(rb'"audit_id":\s*"([0-9a-f-]{36})"')
_PROCESSING_MS = re.compile(rb'"processing_time_ms":\s*([0-9.eE+-]+)')


# ----- load generation (runs in a spawned process: stdlib only at module level) -----


@dataclass(frozen=True)
class LoadSpec:
    """One load run: ``concurrency`` threads posting for ``warmup`` then ``duration`` seconds."""

    label: str
    port: int
    path: str
    headers: dict[str, str]
    concurrency: int
    warmup: float
    duration: float
    # "api": JSON bodies whose order_id is replaced per request; "mlflow": pre-serialised bodies.
    kind: str
    bodies: list[Any]


@dataclass
class LoadResult:
    """What one load run measured; latencies are of requests completed inside the measured window."""

    label: str
    concurrency: int
    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    ok_measured: int = 0
    errors_measured: int = 0
    ok_total: int = 0
    errors_total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    audit_ids: int = 0
    without_explanation: int = 0
    used_fallback: int = 0
    error_samples: list[str] = field(default_factory=list)
    # CPU seconds the load generator itself used (all its threads), warm-up included.
    client_cpu_seconds: float = 0.0


class _Connection(http.client.HTTPConnection):
    """A keep-alive connection that never waits on a delayed ACK, so no server is measured by TCP timers.

    Nagle off, as requests/urllib3 and curl do (http.client writes headers and body separately, and the
    body would wait for the server's delayed ACK of the headers). Quick ACKs on (re-armed per request,
    Linux resets them): a server that writes a response in two segments without TCP_NODELAY, as the
    workers of ``uvicorn --workers N`` behind `mlflow models serve` do here, otherwise stalls every
    keep-alive response by the client's 40 ms delayed ACK, which would measure Linux, not MLflow.
    """

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: Any) -> None:
        super().send(data)
        if self.sock is not None and hasattr(socket, "TCP_QUICKACK"):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _load_thread(
    spec: LoadSpec,
    index: int,
    window: tuple[float, float, float],
    result: LoadResult,
    ids: set[bytes],
    lock: threading.Lock,
) -> None:
    start, measure_from, end = window
    connection = _Connection(HOST, spec.port, timeout=30)
    latencies: list[float] = []
    server_ms: list[float] = []
    statuses: dict[str, int] = {}
    audit_ids: list[bytes] = []
    counts = {"ok_measured": 0, "errors_measured": 0, "ok_total": 0, "errors_total": 0, "no_expl": 0, "fallback": 0}
    samples: list[str] = []
    sequence = 0
    bodies = spec.bodies
    # Threads start on different orders so that concurrent requests are not the same order.
    position = (index * 7919) % len(bodies)
    while time.perf_counter() < start:
        time.sleep(0.0005)
    while True:
        if time.perf_counter() >= end:
            break
        template = bodies[position]
        position = (position + 1) % len(bodies)
        if spec.kind == "api":
            sequence += 1
            body = json.dumps({**template, "order_id": f"{spec.label}-{index}-{sequence}"}).encode()
        else:
            body = template
        began = time.perf_counter()
        try:
            connection.request("POST", spec.path, body=body, headers=spec.headers)
            response = connection.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            connection = _Connection(HOST, spec.port, timeout=30)
            data, status = repr(error).encode(), 0
        finished = time.perf_counter()
        is_ok = 200 <= status < 300
        in_window = measure_from <= finished <= end
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        counts["ok_total" if is_ok else "errors_total"] += 1
        if in_window:
            counts["ok_measured" if is_ok else "errors_measured"] += 1
            if is_ok:
                latencies.append((finished - began) * 1000.0)
        if not is_ok:
            if len(samples) < 3:
                samples.append(f"{status}: {data[:300]!r}")
            continue
        if spec.kind == "api":
            found = _AUDIT_ID.search(data)
            if found:
                audit_ids.append(found.group(1))
            if b'"explanation":{' not in data and b'"explanation": {' not in data:
                counts["no_expl"] += 1
            if b'"used_fallback":true' in data or b'"used_fallback": true' in data:
                counts["fallback"] += 1
            processing = _PROCESSING_MS.search(data)
            if processing and in_window:
                server_ms.append(float(processing.group(1)))
    connection.close()
    with lock:
        result.latencies_ms.extend(latencies)
        result.server_ms.extend(server_ms)
        for status, count in statuses.items():
            result.statuses[status] = result.statuses.get(status, 0) + count
        result.ok_measured += counts["ok_measured"]
        result.errors_measured += counts["errors_measured"]
        result.ok_total += counts["ok_total"]
        result.errors_total += counts["errors_total"]
        result.without_explanation += counts["no_expl"]
        result.used_fallback += counts["fallback"]
        result.error_samples.extend(samples[: max(0, 5 - len(result.error_samples))])
        ids.update(audit_ids)


def _load_process(spec: LoadSpec, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Entry point of the load-generator process: run the threads, send back one `LoadResult`."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = LoadResult(label=spec.label, concurrency=spec.concurrency, duration=spec.duration)
    ids: set[bytes] = set()
    lock = threading.Lock()
    # Every thread starts at once, after all connections' threads exist.
    start = time.perf_counter() + 0.2
    measure_from = start + spec.warmup
    end = measure_from + spec.duration
    threads = [
        threading.Thread(
            target=_load_thread, args=(spec, i, (start, measure_from, end), result, ids, lock), daemon=True
        )
        for i in range(spec.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.audit_ids = len(ids)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu_seconds = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    results.put(asdict(result))


def run_load(spec: LoadSpec) -> LoadResult:
    """Run one load in a fresh process (so the client's GIL is not the orchestrator's) and wait for it."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    process = context.Process(target=_load_process, args=(spec, results), daemon=True)
    process.start()
    try:
        payload = results.get(timeout=spec.warmup + spec.duration + 120)
    except queue.Empty:
        raise RuntimeError(f"load generator for {spec.label} gave no result") from None
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    return LoadResult(**payload)


# ----- statistics and reporting -----


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(result: LoadResult) -> dict[str, Any]:
    """Throughput, latency percentiles, errors and the audit/explanation checks of one load run."""
    lat = result.latencies_ms
    return {
        "label": result.label,
        "concurrency": result.concurrency,
        "seconds": result.duration,
        "requests": result.ok_measured,
        "req_per_s": result.ok_measured / result.duration,
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "p99_ms": percentile(lat, 99),
        "max_ms": max(lat) if lat else None,
        "errors": result.errors_measured,
        "errors_incl_warmup": result.errors_total,
        "ok_incl_warmup": result.ok_total,
        "statuses": result.statuses,
        "server_processing_p50_ms": percentile(result.server_ms, 50),
        "server_processing_p99_ms": percentile(result.server_ms, 99),
        "distinct_audit_ids": result.audit_ids,
        "without_explanation": result.without_explanation,
        "used_fallback": result.used_fallback,
        "error_samples": result.error_samples,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cpu(row: dict[str, Any]) -> str:
    cpu = row.get("cpu_ms_per_request")
    if not cpu:
        return "-"
    return f"{_ms(cpu['server'])} + {_ms(cpu['database'])}; {_ms(cpu['client'])}"


def print_row(server: str, row: dict[str, Any]) -> None:
    audit = row.get("audit_check")
    check = "" if audit is None else ("audit ok" if audit["is_exact"] else f"AUDIT MISMATCH {audit}")
    print(
        f"{server:<22} c={row['concurrency']:<3} {row['req_per_s']:8.1f} req/s  p50 {_ms(row['p50_ms']):>6}  "
        f"p95 {_ms(row['p95_ms']):>6}  p99 {_ms(row['p99_ms']):>6} ms  errors {row['errors']}  "
        f"(in-view p50 {_ms(row['server_processing_p50_ms'])}, p99 {_ms(row['server_processing_p99_ms'])}; "
        f"CPU ms/req {_cpu(row)})  {check}",
        flush=True,
    )


# ----- processes -----


@dataclass
class Server:
    """A started server process group and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path


def _stop(server: Server) -> None:
    """SIGTERM the whole process group (gunicorn master and workers, mlflow and uvicorn), then SIGKILL."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    # Workers outlive a master killed hard: make sure nothing of the group is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def started(name: str, command: list[str], *, env: dict[str, str], port: int, log_dir: Path) -> Iterator[Server]:
    """Start ``command`` in its own process group, logging to a file; always stopped on leaving."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name=name, process=process, port=port, log_path=log_path)
    try:
        yield server
    finally:
        _stop(server)


def wait_ready(server: Server, path: str, headers: dict[str, str]) -> float:
    """Poll ``path`` until it answers 200; returns the seconds it took. Fails fast if the server died."""
    began = time.perf_counter()
    while time.perf_counter() - began < READY_TIMEOUT_SECONDS:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}): {_tail(server.log_path)}")
        connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.perf_counter() - began
            if response.status not in (502, 503):
                raise RuntimeError(f"{server.name} answered {response.status} on {path}: {_tail(server.log_path)}")
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} not ready after {READY_TIMEOUT_SECONDS:.0f} s: {_tail(server.log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` with the benchmark's environment; raise with its output when it fails."""
    completed = subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(arguments)} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed


# ----- setup -----


def bench_environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """The production-like environment every process of the run gets (and this one, for Django)."""
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "DEBUG")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "intellilog.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "FEATURE_STORE_KEY_PREFIX": FEATURE_PREFIX,
            "RATE_LIMIT_KEY_PREFIX": RATE_LIMIT_PREFIX,
            "INTELLILOG_VAR_DIR": str(var_dir),
            "DELIVERY_HISTORY_PATH": str(args.data),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # No TLS terminator in front of a server on 127.0.0.1: do not redirect to https.
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes and removes its own
    return env


def database_ensure(url: str) -> bool:
    """Create the benchmark's database if it does not exist; True when it was created now."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"--database-url: unexpected database name {name!r}")
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        connection.execute(f'CREATE DATABASE "{name}"')
    return True


@dataclass(frozen=True)
class BenchTenant:
    """What the load needs: the tenant, its key (raw, shown once) and the champion it serves."""

    tenant_id: int
    slug: str
    api_key_id: int
    raw_key: str
    version_id: int
    version_label: str
    artifact_path: Path
    artifact_sha256: str
    reused_model: bool


def history_file(args: argparse.Namespace, var_dir: Path) -> tuple[Path, str]:
    """The bundled history, or a synthetic file of the same schema when ../shared is absent."""
    if args.data.is_file():
        return args.data, "bundled"
    from core.delivery.synthetic import SyntheticConfig, write_synthetic_file

    path = var_dir / "synthetic_deliveries.csv.gz"
    if not path.exists():
        write_synthetic_file(path, SyntheticConfig(rows=SYNTHETIC_ROWS, seed=42))
    return path, "synthetic"


def tenant_setup(history: Path, say: Callable[[str], None]) -> BenchTenant:
    """The benchmark tenant with history, a promoted champion and a fresh high-limit API key."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from deliveries.models import ImportBatch
    from registry.selectors import eta_champion
    from registry.services import approvers_group_ensure, promotion_request_approve, promotion_request_create
    from registry.training import eta_model_train
    from tenants.models import ApiKey, Tenant
    from tenants.services import api_key_create, tenant_create

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(
        slug=TENANT_SLUG, name="Serving benchmark"
    )
    if not ImportBatch.objects.filter(tenant=tenant, rows_imported__gt=0).exists():
        say(f"importing {history}")
        with open(os.devnull, "w") as quiet:
            call_command("import_deliveries", str(history), tenant=tenant.slug, stdout=quiet, stderr=quiet)
    champion = eta_champion(tenant=tenant)
    reused = champion is not None
    if champion is None:
        say("training the ETA model (first run only)")
        users = get_user_model()
        maker, _ = users.objects.get_or_create(username="bench-serving-maker", defaults={"is_staff": True})
        checker, _ = users.objects.get_or_create(username="bench-serving-checker", defaults={"is_staff": True})
        checker.groups.add(approvers_group_ensure())
        version = eta_model_train(tenant=tenant, created_by="bench/serving.py", progress=lambda m: say(f"  {m}"))
        # The promotion's evidence (plots, comparison) is for human reviewers; the benchmark skips it.
        request = promotion_request_create(version=version, user=maker, reason="serving benchmark")
        champion = promotion_request_approve(request=request, user=checker, comment="benchmark auto-approval")
    issued = api_key_create(tenant=tenant, name=f"bench/serving.py {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}")
    ApiKey.objects.filter(pk=issued.api_key.pk).update(rate_limit_per_minute=BENCH_RATE_LIMIT_PER_MINUTE)
    return BenchTenant(
        tenant_id=tenant.pk,
        slug=tenant.slug,
        api_key_id=issued.api_key.pk,
        raw_key=issued.raw_key,
        version_id=champion.pk,
        version_label=str(champion),
        artifact_path=Path(settings.ARTIFACT_ROOT) / champion.artifact_path,
        artifact_sha256=champion.artifact_sha256,
        reused_model=reused,
    )


def order_bodies(history: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` API request bodies from history rows, re-timed to the last 24 hours (tenant time).

    New orders, as a tenant sends them: the online store's states count only deliveries completed
    before them, so they are served from Redis (historical dates would make every request fall back to
    the database, which is the replay path, not the hot one). The row's time of day, pickup delay,
    courier, places and conditions are kept.
    """
    from zoneinfo import ZoneInfo

    from core.delivery.schema import load_clean_frame
    from tenants.constants import DEFAULT_TIME_ZONE

    time_zone = ZoneInfo(DEFAULT_TIME_ZONE)
    frame, _ = load_clean_frame(history, time_zone=time_zone)
    frame = frame[frame["has_usable_coordinates"]]
    rows = frame.sample(n=count, replace=len(frame) < count, random_state=seed)
    now = dt.datetime.now(time_zone)
    bodies = []
    for row in rows.itertuples(index=False):
        local = row.ordered_at.to_pydatetime().astimezone(time_zone)
        ordered_at = dt.datetime.combine(now.date(), local.time(), tzinfo=time_zone)
        if ordered_at > now:
            ordered_at -= dt.timedelta(days=1)
        body: dict[str, Any] = {
            "order_id": "",
            "pickup_latitude": float(row.pickup_latitude),
            "pickup_longitude": float(row.pickup_longitude),
            "drop_latitude": float(row.drop_latitude),
            "drop_longitude": float(row.drop_longitude),
            "ordered_at": ordered_at.isoformat(),
            "vehicle_type": row.vehicle,
            "driver_id": row.courier_id,
            "driver_age": int(row.courier_age),
        }
        if row.picked_at is not None and row.picked_at == row.picked_at:  # NaT != NaT
            body["picked_at"] = (ordered_at + (row.picked_at - row.ordered_at).to_pytimedelta()).isoformat()
        optional = {
            "traffic_condition": row.traffic,
            "weather_condition": row.weather,
            "area": row.area,
            "driver_rating": row.courier_rating,
        }
        body.update({key: value for key, value in optional.items() if value is not None and value == value})
        bodies.append(body)
    return bodies


def feature_rows(tenant_id: int, bodies: list[dict[str, Any]], feature_names: tuple[str, ...]) -> list[list[Any]]:
    """Each body's feature vector as the API computes it (serializer, order, online store), model order.

    Validates every body on the way, so a malformed benchmark order fails here and not as load errors.
    """
    import math
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from features.services import online_features_for_order
    from predictions.api.serializers import EtaRequestSerializer
    from predictions.orders import order_from_request
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    time_zone = ZoneInfo(tenant.time_zone)
    rows = []
    for body in bodies:
        serializer = EtaRequestSerializer(data={**body, "order_id": "check"})
        if not serializer.is_valid():
            raise ValueError(f"benchmark order is invalid: {serializer.errors} ({body})")
        order = order_from_request(serializer.validated_data, time_zone=time_zone, now=timezone.now())
        values = online_features_for_order(tenant=tenant, order=order.feature_input()).values
        rows.append(
            [
                None if isinstance(value, float) and not math.isfinite(value) else value
                for value in (values.get(name) for name in feature_names)
            ]
        )
    return rows


def audit_count(tenant_id: int) -> int:
    from predictions.models import PredictionAudit

    return PredictionAudit.objects.filter(tenant_id=tenant_id).count()


def api_key_revoke_by_id(api_key_id: int) -> None:
    from tenants.models import ApiKey
    from tenants.services import api_key_revoke

    api_key = ApiKey.objects.filter(pk=api_key_id).first()
    if api_key is not None:
        api_key_revoke(api_key=api_key)


# ----- the phases -----


@dataclass(frozen=True)
class WorkerConfig:
    """Gunicorn processes x threads per process (threads > 1 makes gunicorn use its gthread worker)."""

    workers: int
    threads: int

    @property
    def label(self) -> str:
        return f"gunicorn {self.workers}x{self.threads}"

    @classmethod
    def parse(cls, text: str) -> WorkerConfig:
        workers, _, threads = text.partition("x")
        return cls(int(workers), int(threads or 1))


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "intellilog" / "gunicorn.conf.py"),
        "--bind",
        f"{HOST}:{port}",
    ]


def merge(results: list[LoadResult]) -> LoadResult:
    """Several rounds of the same load as one: latencies pooled, counts and measured seconds added."""
    merged = LoadResult(
        label=results[0].label, concurrency=results[0].concurrency, duration=sum(r.duration for r in results)
    )
    for result in results:
        merged.latencies_ms.extend(result.latencies_ms)
        merged.server_ms.extend(result.server_ms)
        for status, count in result.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        merged.error_samples.extend(result.error_samples[: max(0, 5 - len(merged.error_samples))])
        for name in (
            "ok_measured",
            "errors_measured",
            "ok_total",
            "errors_total",
            "audit_ids",
            "without_explanation",
            "used_fallback",
            "client_cpu_seconds",
        ):
            setattr(merged, name, getattr(merged, name) + getattr(result, name))
    return merged


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu() -> dict[int, tuple[int, float]]:
    """pid -> (process group, CPU seconds incl. reaped children) for every process; {} off Linux."""
    table: dict[int, tuple[int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        # After the command name: state, ppid, pgrp, ... utime (11), stime (12), cutime (13), cstime (14).
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        table[int(stat.parent.name)] = (int(fields[2]), ticks / _CLOCK_TICKS)
    return table


def database_backends() -> list[int]:
    """PostgreSQL backend pids connected to the benchmark database, other than this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [int(row[0]) for row in cursor.fetchall()]


@dataclass
class Target:
    """A running server the load is aimed at, and what one request to it looks like."""

    label: str
    server: Server
    kind: str  # "api" (our prediction API, audited) or "mlflow"
    path: str
    headers: dict[str, str]
    bodies: list[Any]


@dataclass
class RoundFigures:
    """What one round measured beside the client's view: audit rows added and CPU the server side used."""

    result: LoadResult
    audit_rows_added: int
    server_cpu_seconds: float
    database_cpu_seconds: float
    load_average: float


def load_round(target: Target, *, concurrency: int, warmup: float, duration: float, tenant_id: int) -> RoundFigures:
    """One bounded load on ``target``, with audit rows counted and CPU sampled before and after.

    CPU is the server's whole process group (master and workers) plus, for our API, the PostgreSQL
    backends serving it: on a machine shared with other work, CPU per request is the figure that the
    neighbours disturb least, while req/s depends on how much of the machine was free.
    """
    is_api = target.kind == "api"
    before_rows = audit_count(tenant_id) if is_api else 0
    backends = database_backends() if is_api else []
    before = _proc_cpu()
    result = run_load(
        LoadSpec(
            label=f"{target.label.replace(' ', '-')}-c{concurrency}-{secrets.token_hex(3)}",
            port=target.server.port,
            path=target.path,
            headers=target.headers,
            concurrency=concurrency,
            warmup=warmup,
            duration=duration,
            kind=target.kind,
            bodies=target.bodies,
        )
    )
    after = _proc_cpu()
    group = target.server.process.pid

    def cpu(table: dict[int, tuple[int, float]], pids: set[int]) -> float:
        return sum(seconds for pid, (pgrp, seconds) in table.items() if pgrp == group or pid in pids)

    server_cpu = cpu(after, set()) - cpu(before, set())
    # A backend that appeared during the round (a worker reconnecting after DATABASE_CONN_MAX_AGE) counts
    # from zero; one that closed during it is lost (its CPU went to the postmaster's children's total).
    pids = (set(backends) | (set(database_backends()) if is_api else set())) & set(after)
    database_cpu = sum(after[pid][1] - before.get(pid, (0, 0.0))[1] for pid in pids)
    return RoundFigures(
        result=result,
        audit_rows_added=audit_count(tenant_id) - before_rows if is_api else 0,
        server_cpu_seconds=server_cpu,
        database_cpu_seconds=database_cpu,
        load_average=os.getloadavg()[0],
    )


def level_row(target: Target, rounds: list[RoundFigures]) -> dict[str, Any]:
    """Rounds of one level pooled into the figures reported, with the audit and CPU checks."""
    result = merge([figures.result for figures in rounds])
    row = summarise(result)
    row["server"] = target.label
    row["rounds"] = len(rounds)
    requests = result.ok_total + result.errors_total
    server_cpu = sum(figures.server_cpu_seconds for figures in rounds)
    database_cpu = sum(figures.database_cpu_seconds for figures in rounds)
    row["cpu_ms_per_request"] = {
        "server": server_cpu * 1000.0 / requests if requests else None,
        "database": database_cpu * 1000.0 / requests if requests else None,
        "client": result.client_cpu_seconds * 1000.0 / requests if requests else None,
    }
    row["load_average_after_rounds"] = [round(figures.load_average, 2) for figures in rounds]
    row["round_req_per_s"] = [figures.result.ok_measured / figures.result.duration for figures in rounds]
    if target.kind == "api":
        added = sum(figures.audit_rows_added for figures in rounds)
        row["audit_check"] = {
            "rows_added": added,
            "ok_responses": result.ok_total,
            "distinct_audit_ids": result.audit_ids,
            "without_explanation": result.without_explanation,
            "is_exact": added == result.ok_total == result.audit_ids and result.without_explanation == 0,
        }
    return row


def recycles(log_path: Path) -> int:
    """Workers gunicorn restarted after max_requests during the run (each reloads Django and the model)."""
    try:
        return log_path.read_text(errors="replace").count("Autorestarting worker")
    except OSError:
        return 0


def start_gunicorn(
    stack: contextlib.ExitStack, config: WorkerConfig, *, env: dict[str, str], log_dir: Path, setup: BenchTenant
) -> Target:
    """Start gunicorn with ``config`` (stopped when ``stack`` closes) and describe it as a load target."""
    port = free_port()
    server_env = {**env, "WEB_CONCURRENCY": str(config.workers), "GUNICORN_THREADS": str(config.threads)}
    name = f"gunicorn-{config.workers}x{config.threads}"
    server = stack.enter_context(started(name, gunicorn_command(port), env=server_env, port=port, log_dir=log_dir))
    return Target(
        label=config.label,
        server=server,
        kind="api",
        path=ETA_PATH,
        headers={"Authorization": f"Api-Key {setup.raw_key}", "Content-Type": "application/json"},
        bodies=[],
    )


def start_mlflow(
    stack: contextlib.ExitStack,
    *,
    model_dir: Path,
    workers: int,
    env: dict[str, str],
    log_dir: Path,
    rows: list[list[Any]],
    columns: list[str],
) -> Target:
    """`mlflow models serve` of the pyfunc (stopped when ``stack`` closes), loaded with one-row requests."""
    port = free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow_bin),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "-h",
        HOST,
        "-p",
        str(port),
        "-w",
        str(workers),
        "--env-manager",
        "local",
    ]
    # The wrapper imports core.model from the repository, as our workers do; mlflow starts
    # `uvicorn` by name, so the virtual environment's bin must come first on PATH.
    bin_dir = str(Path(sys.executable).parent)
    server_env = {**env, "PYTHONPATH": str(ROOT), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    server = stack.enter_context(started(f"mlflow-w{workers}", command, env=server_env, port=port, log_dir=log_dir))
    bodies = [json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode() for row in rows]
    return Target(
        label=f"mlflow serve w={workers}",
        server=server,
        kind="mlflow",
        path="/invocations",
        headers={"Content-Type": "application/json"},
        bodies=bodies,
    )


def serving_phases(
    *,
    configs: list[WorkerConfig],
    env: dict[str, str],
    log_dir: Path,
    setup: BenchTenant,
    bodies: list[dict[str, Any]],
    rows: list[list[Any]],
    columns: list[str],
    levels: list[int],
    rounds: int,
    round_seconds: float,
    warmup: float,
    sweep_rounds: int,
    sweep_seconds: float,
    work_dir: Path,
    say: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The worker-option comparison, then our API and mlflow serve loaded in alternating rounds.

    Everything that is compared runs at the same time and takes turns (A B A B ..., the first of each
    pair alternating), so that a neighbour's test run slows both sides of a comparison, not one.
    """
    with contextlib.ExitStack() as stack:
        candidates = [start_gunicorn(stack, config, env=env, log_dir=log_dir, setup=setup) for config in configs]
        ready = {}
        for target in candidates:
            target.bodies = bodies
            ready[target.label] = wait_ready(
                target.server, INFO_PATH, {"Authorization": target.headers["Authorization"]}
            )
        options: list[dict[str, Any]] = []
        best = 0
        if len(candidates) > 1:
            say(f"comparing worker options at c={RATIO_CONCURRENCY}: {', '.join(t.label for t in candidates)}")
            measured: dict[str, list[RoundFigures]] = {target.label: [] for target in candidates}
            for index in range(sweep_rounds):
                for target in candidates:
                    measured[target.label].append(
                        load_round(
                            target,
                            concurrency=RATIO_CONCURRENCY,
                            warmup=warmup if index == 0 else 1.0,
                            duration=sweep_seconds,
                            tenant_id=setup.tenant_id,
                        )
                    )
            for config, target in zip(configs, candidates, strict=True):
                row = level_row(target, measured[target.label])
                print_row(target.label, row)
                options.append(
                    {
                        "config": asdict(config),
                        "label": target.label,
                        "ready_seconds": ready[target.label],
                        "worker_recycles": recycles(target.server.log_path),
                        "rows": [row],
                    }
                )
            best = max(range(len(options)), key=lambda i: options[i]["rows"][0]["req_per_s"])
        chosen, ours = configs[best], candidates[best]
        for target in candidates:
            if target is not ours:
                _stop(target.server)

        say(f"{ours.label} chosen; saving the pyfunc and starting mlflow models serve with {chosen.workers} workers")
        model_dir = save_mlflow_model(setup, rows, columns, work_dir / "eta_pyfunc")
        mlflow_target = start_mlflow(
            stack, model_dir=model_dir, workers=chosen.workers, env=env, log_dir=log_dir, rows=rows, columns=columns
        )
        mlflow_ready = wait_ready(mlflow_target.server, "/ping", {})
        say(f"loading both at concurrency {', '.join(map(str, levels))}: {rounds} rounds of {round_seconds:.0f} s each")
        ours_rows, mlflow_rows = [], []
        for level in levels:
            taken: dict[str, list[RoundFigures]] = {ours.label: [], mlflow_target.label: []}
            for index in range(rounds):
                pair = [ours, mlflow_target] if index % 2 == 0 else [mlflow_target, ours]
                for target in pair:
                    taken[target.label].append(
                        load_round(
                            target,
                            concurrency=level,
                            warmup=warmup if index == 0 else min(warmup, 1.0),
                            duration=round_seconds,
                            tenant_id=setup.tenant_id,
                        )
                    )
            ours_row = level_row(ours, taken[ours.label])
            mlflow_row = level_row(mlflow_target, taken[mlflow_target.label])
            ours_row["paired_ratio_vs_mlflow"] = [
                (a.result.ok_measured / a.result.duration) / max(b.result.ok_measured / b.result.duration, 1e-9)
                for a, b in zip(taken[ours.label], taken[mlflow_target.label], strict=True)
            ]
            print_row(ours.label, ours_row)
            print_row(mlflow_target.label, mlflow_row)
            ours_rows.append(ours_row)
            mlflow_rows.append(mlflow_row)
        serving = {
            "config": asdict(chosen),
            "label": ours.label,
            "ready_seconds": ready[ours.label],
            "worker_recycles": recycles(ours.server.log_path),
            "rows": ours_rows,
        }
        mlflow_result = {
            "label": mlflow_target.label,
            "workers": chosen.workers,
            "ready_seconds": mlflow_ready,
            "rows": mlflow_rows,
        }
    return options, serving, mlflow_result


def save_mlflow_model(setup: BenchTenant, rows: list[list[Any]], columns: list[str], destination: Path) -> Path:
    import pandas as pd

    sys.path.insert(1, str(ROOT / "bench"))
    from mlflow_pyfunc import save_pyfunc

    example = pd.DataFrame(rows, columns=columns)
    return save_pyfunc(
        artifact_path=setup.artifact_path,
        artifact_sha256=setup.artifact_sha256,
        example=example,
        destination=destination,
    )


def batch_file(history: Path, rows: int, seed: int, destination: Path) -> Path:
    """``rows`` orders sampled with replacement from the history's valid rows, unique ids, no outcome."""
    from zoneinfo import ZoneInfo

    import pandas as pd

    from core.delivery.schema import load_clean_frame
    from tenants.constants import DEFAULT_TIME_ZONE

    clean, _ = load_clean_frame(history, time_zone=ZoneInfo(DEFAULT_TIME_ZONE))
    raw = pd.read_csv(history, dtype=str, keep_default_na=False)
    # Only rows the importer accepts: one invalid row makes predict_batch refuse the whole file.
    raw = raw[raw["order_id"].str.strip().isin(set(clean["external_order_id"]))]
    sample = raw.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    sample["order_id"] = [f"batch-{i:07d}" for i in range(rows)]
    sample["delivery_minutes"] = ""
    destination.parent.mkdir(parents=True, exist_ok=True)
    sample.to_csv(destination, index=False)
    return destination


def batch_benchmark(
    *, env: dict[str, str], setup: BenchTenant, history: Path, rows: int, work_dir: Path, seed: int
) -> dict[str, Any]:
    """``predict_batch`` on ``rows`` orders (whole command and its stages) against raw inplace_predict."""
    from zoneinfo import ZoneInfo

    from core.delivery.schema import load_clean_frame
    from core.features import build_features
    from core.model import _encode_frame
    from deliveries.selectors import deliveries_frame
    from predictions.models import BatchPredictionRun, PredictionAudit
    from registry.loader import model_version_load
    from registry.models import ModelVersion
    from tenants.models import Tenant

    input_path = batch_file(history, rows, seed, work_dir / "batch_orders.csv")
    output_path = work_dir / "batch_scored.csv"
    import resource

    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    completed = manage(env, "predict_batch", str(input_path), str(output_path), "--tenant", setup.slug)
    command_seconds = time.perf_counter() - began
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the whole command (start-up included): what neighbours on the machine disturb least.
    command_cpu_seconds = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    stages = {}
    for line in completed.stderr.splitlines():
        match = _STAGE_LINE.match(line.strip())
        if match:
            stages[match["stage"]] = float(match["seconds"])

    tenant = Tenant.objects.get(pk=setup.tenant_id)
    predictor = model_version_load(version=ModelVersion.objects.get(pk=setup.version_id))
    orders, _ = load_clean_frame(input_path, time_zone=ZoneInfo(tenant.time_zone), outcome_required=False)
    history_frame = deliveries_frame(tenant=tenant)
    features = build_features(orders, history=history_frame, time_zone=ZoneInfo(tenant.time_zone))
    x = _encode_frame(features, predictor.features)
    # The boosters as served: one thread each (set when the artifact is loaded), like predict_batch's.
    raw_runs, raw_cpu_runs = [], []
    for _ in range(5):
        start, cpu = time.perf_counter(), time.process_time()
        predictor._point.inplace_predict(x)
        predictor._quantile.inplace_predict(x)
        raw_runs.append(time.perf_counter() - start)
        raw_cpu_runs.append(time.process_time() - cpu)
    raw_seconds = min(raw_runs)
    cpu_per_row = audited_cpu_per_row(tenant, orders, features, raw_cpu_seconds=min(raw_cpu_runs))
    score_stages = {name: seconds for name, seconds in stages.items() if name in ("features", "predictions")}
    compute_seconds = sum(score_stages.values())
    audited_seconds = compute_seconds + stages.get("audit rows", 0.0)
    run = BatchPredictionRun.objects.filter(tenant=tenant).order_by("-started_at").first()
    audit_rows = PredictionAudit.objects.filter(tenant=tenant, request_id=run.request_id).count() if run else 0
    service_seconds = sum(stages.values())
    raw_rate = len(x) / raw_seconds
    figures = {
        "rows": len(x),
        "input": str(input_path),
        "command_seconds": command_seconds,
        "stages_seconds": stages,
        "raw_inplace_predict_seconds": raw_seconds,
        "raw_inplace_predict_runs": raw_runs,
        "raw_inplace_predict_cpu_seconds": min(raw_cpu_runs),
        "command_cpu_seconds": command_cpu_seconds,
        "raw_rows_per_s": raw_rate,
        "features_plus_predictions_rows_per_s": len(x) / compute_seconds if compute_seconds else None,
        "audited_rows_per_s": len(x) / audited_seconds if audited_seconds else None,
        "audit_rows_written": audit_rows,
        "service_rows_per_s": len(x) / service_seconds if service_seconds else None,
        "command_rows_per_s": len(x) / command_seconds,
        "command_stdout": completed.stdout.strip(),
        "cpu_us_per_row": cpu_per_row,
    }
    figures["ratio_features_plus_predictions"] = (figures["features_plus_predictions_rows_per_s"] or 0) / raw_rate
    figures["ratio_audited"] = (figures["audited_rows_per_s"] or 0) / raw_rate
    figures["ratio_service"] = (figures["service_rows_per_s"] or 0) / raw_rate
    figures["ratio_command"] = figures["command_rows_per_s"] / raw_rate
    figures["ratio_command_cpu"] = min(raw_cpu_runs) / command_cpu_seconds if command_cpu_seconds else None
    return figures


def audited_cpu_per_row(tenant: Any, orders: Any, features: Any, *, raw_cpu_seconds: float) -> dict[str, float]:
    """CPU microseconds per row of predict_batch's scoring and auditing, against raw inplace_predict's.

    CPU time is what a loaded machine disturbs least. The same chunks as the command, in this process
    (scoring, audit rows as columns, their CSV) and in its PostgreSQL backend (parsing, storing and
    indexing them; read from /proc), inside a transaction rolled back at the end.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from predictions.batch_audit import BatchAuditRun, batch_audit_table, batch_audits_writer
    from predictions.constants import BATCH_SCORE_CHUNK_ROWS
    from predictions.selectors import serving_model

    serving = serving_model(tenant=tenant)
    run = BatchAuditRun(
        tenant=tenant,
        serving=serving,
        request_id="bench-cpu",
        input_sha256="0" * 64,
        history_read_at=timezone.now(),
        is_explained=False,
    )
    rows = len(orders)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_before = _proc_cpu().get(backend, (0, 0.0))[1]
        scoring = auditing = 0.0
        with batch_audits_writer() as write:
            for first in range(0, rows, BATCH_SCORE_CHUNK_ROWS):
                chunk = slice(first, first + BATCH_SCORE_CHUNK_ROWS)
                started = time.process_time()
                scored = serving.predictor.predict_frame(features.iloc[chunk])
                scored_at = time.process_time()
                write(
                    batch_audit_table(
                        run=run,
                        orders=orders.iloc[chunk],
                        features=features.iloc[chunk],
                        scored=scored,
                        explanations=None,
                        first_row=first,
                        latency_ms=0.0,
                    )
                )
                scoring += scored_at - started
                auditing += time.process_time() - scored_at
            started = time.process_time()
        auditing += time.process_time() - started  # the writer thread's last sends
        backend_seconds = _proc_cpu().get(backend, (0, 0.0))[1] - backend_before
        transaction.set_rollback(True)
    per_row = 1e6 / rows
    figures = {
        "raw_inplace_predict": raw_cpu_seconds * per_row,
        "predictions": scoring * per_row,
        "audit_rows_client": auditing * per_row,
        "audit_rows_postgresql": backend_seconds * per_row,
    }
    figures["audited_total"] = figures["predictions"] + figures["audit_rows_client"] + figures["audit_rows_postgresql"]
    figures["ratio_raw_to_audited"] = figures["raw_inplace_predict"] / figures["audited_total"]
    return figures


# ----- profile -----

PROFILED_STAGES: tuple[tuple[str, str, str], ...] = (
    # (label, module, attribute path): wall time accumulated over every call while profiling. Nested
    # stages are indented; a parent's time includes its children's.
    ("view total (DRF dispatch)", "predictions.api.views", "EtaPredictionView.dispatch"),
    ("  auth: API key lookup + last_used", "tenants.authentication", "ApiKeyAuthentication.authenticate"),
    ("  rate limit (Redis INCR+EXPIRE)", "tenants.throttling", "ApiKeyRateThrottle.allow_request"),
    ("  request validation (serializer)", "predictions.api.views", "EtaRequestSerializer.is_valid"),
    ("  order normalisation", "predictions.api.views", "_order_request"),
    ("  prediction_serve", "predictions.api.views", "prediction_serve"),
    ("    request digest (sha256 of body)", "predictions.services", "request_sha256"),
    ("    champion lookup (process cache)", "predictions.services", "_serving_model"),
    ("    features (store + build + freshness)", "predictions.services", "online_features_for_order"),
    ("      feature store read (Redis MGET)", "features.online_store", "read_states"),
    ("      feature build", "features.services", "build_order_features"),
    ("    predict + explain (ETAPredictor.predict_many)", "core.model", "ETAPredictor.predict_many"),
    ("      DMatrix build (one, shared by every output)", "core.model", "ETAPredictor._matrix"),
    ("      XGBoost predict (point + quantile + TreeSHAP)", "xgboost.core", "Booster.predict"),
    ("      XGBoost inplace_predict (without explanations)", "xgboost.core", "Booster.inplace_predict"),
    ("      out-of-range check", "core.model", "ETAPredictor.out_of_range"),
    ("    audit row build (+ response body)", "predictions.services", "_build_audit"),
    ("    audit INSERT", "predictions.models", "PredictionAudit.save"),
    ("    transaction commit (atomic exit)", "django.db.transaction", "Atomic.__exit__"),
    ("    metrics (prometheus)", "predictions.services", "_observe"),
    ("  JSON render", "rest_framework.renderers", "JSONRenderer.render"),
)


def _wrap_timed(
    owner: Any, attribute: str, totals: dict[str, list[tuple[float, float]]], label: str
) -> Callable[[], None]:
    """Replace ``owner.attribute`` by a wrapper timing (wall, this thread's CPU); returns the undo."""
    is_own = attribute in vars(owner)
    original = vars(owner)[attribute] if is_own else getattr(owner, attribute)
    function = original.__func__ if isinstance(original, staticmethod) else original

    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label].append((time.perf_counter() - wall, time.thread_time() - cpu))

    setattr(owner, attribute, staticmethod(timed) if isinstance(original, staticmethod) else timed)

    def restore() -> None:
        if is_own:
            setattr(owner, attribute, original)
        else:
            delattr(owner, attribute)  # the inherited one shows through again

    return restore


def profile_requests(setup: BenchTenant, bodies: list[dict[str, Any]], count: int, output: Path) -> dict[str, Any]:
    """Profile ``count`` requests in-process through Django's test client (the whole middleware stack).

    Passes: plain (no instruments), stage timers (functions wrapped; wall time and this thread's CPU
    time, the latter unaffected by waiting for a core on a busy machine, the former including the waits
    for PostgreSQL and Redis), the SQL of one request, and cProfile's top functions. No socket and no
    gunicorn: this is one worker's cost per request. Metrics run in single-process mode here.
    """
    import cProfile
    import importlib
    import io
    import pstats

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {setup.raw_key}"}
    tag = secrets.token_hex(3)

    def post(i: int) -> None:
        body = {**bodies[i % len(bodies)], "order_id": f"profile-{tag}-{i}"}
        response = client.post(ETA_PATH, data=json.dumps(body), content_type="application/json", **headers)
        if response.status_code != 200:
            raise RuntimeError(f"profile request failed: {response.status_code} {response.content[:300]!r}")

    output.parent.mkdir(parents=True, exist_ok=True)
    for i in range(50):  # warm-up: model load, connections, first-call allocations
        post(i)
    started_at, cpu_at = time.perf_counter(), time.thread_time()
    for i in range(count):
        post(50 + i)
    plain_ms = (time.perf_counter() - started_at) * 1000.0 / count
    plain_cpu_ms = (time.thread_time() - cpu_at) * 1000.0 / count

    totals: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in PROFILED_STAGES}
    restore = []
    for label, module_name, path in PROFILED_STAGES:
        module = importlib.import_module(module_name)
        owner: Any = module
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        restore.append(_wrap_timed(owner, attribute, totals, label))
    try:
        started_at, cpu_at = time.perf_counter(), time.thread_time()
        for i in range(count):
            post(100_000 + i)
        timed_ms = (time.perf_counter() - started_at) * 1000.0 / count
        timed_cpu_ms = (time.thread_time() - cpu_at) * 1000.0 / count
    finally:
        for undo in reversed(restore):
            undo()
    stages = {
        label: {
            "wall_ms": sum(wall for wall, _ in values) * 1000.0 / count,
            "cpu_ms": sum(cpu for _, cpu in values) * 1000.0 / count,
            "calls_per_request": len(values) / count,
        }
        for label, values in totals.items()
    }
    stages["request total (test client, middleware included)"] = {
        "wall_ms": timed_ms,
        "cpu_ms": timed_cpu_ms,
        "calls_per_request": 1,
    }

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        post(300_000)
    queries = [{"sql": query["sql"][:160], "ms": float(query["time"]) * 1000.0} for query in captured.captured_queries]

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(count):
        post(200_000 + i)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)
    output.write_text(buffer.getvalue())
    return {
        "requests": count,
        "ms_per_request_plain": plain_ms,
        "cpu_ms_per_request_plain": plain_cpu_ms,
        "ms_per_request_with_stage_timers": timed_ms,
        "stages": stages,
        "queries_per_request": queries,
        "cprofile": str(output),
    }


# ----- main -----


def _targets(ours: list[dict[str, Any]], mlflow_rows: list[dict[str, Any]], batch: dict[str, Any] | None) -> dict:
    targets: dict[str, dict[str, Any]] = {}
    by_level = {row["concurrency"]: row for row in ours}
    for level, limit in TARGET_P99_MS.items():
        if level in by_level and by_level[level]["p99_ms"] is not None:
            value = by_level[level]["p99_ms"]
            targets[f"p99_ms_c{level}"] = {"target": limit, "value": value, "is_met": value <= limit}
    mlflow_at = {row["concurrency"]: row for row in mlflow_rows}
    if RATIO_CONCURRENCY in by_level and RATIO_CONCURRENCY in mlflow_at and mlflow_at[RATIO_CONCURRENCY]["req_per_s"]:
        ours, theirs = by_level[RATIO_CONCURRENCY], mlflow_at[RATIO_CONCURRENCY]
        ratio = ours["req_per_s"] / theirs["req_per_s"]
        ours_cpu = (ours["cpu_ms_per_request"]["server"] or 0.0) + (ours["cpu_ms_per_request"]["database"] or 0.0)
        theirs_cpu = theirs["cpu_ms_per_request"]["server"] or 0.0
        paired = sorted(ours.get("paired_ratio_vs_mlflow", []))
        targets[f"throughput_vs_mlflow_c{RATIO_CONCURRENCY}"] = {
            "target": TARGET_MLFLOW_RATIO,
            "value": ratio,
            "is_met": ratio >= TARGET_MLFLOW_RATIO,
            "paired_round_ratios": paired,
            # Requests per CPU-second, ours (workers + PostgreSQL backends) over mlflow's: the capacity
            # ratio, less disturbed by what else runs on the machine than req/s.
            "cpu_efficiency_ratio": theirs_cpu / ours_cpu if ours_cpu else None,
        }
    if batch is not None:
        ratio = batch["ratio_audited"]
        targets["batch_vs_raw_inplace_predict"] = {
            "target": TARGET_BATCH_RATIO,
            "value": ratio,
            "is_met": ratio >= TARGET_BATCH_RATIO and batch["audit_rows_written"] == batch["rows"],
            "measured_as": "rows/s of predict_batch's features + predictions + audit rows stages (every row "
            "audited) / raw inplace_predict rows/s",
        }
    return targets


def print_batch(batch: dict[str, Any]) -> None:
    print(
        f"batch {batch['rows']:,} rows: predict_batch command {batch['command_seconds']:.1f} s "
        f"({batch['command_rows_per_s']:,.0f} rows/s), stages {batch['stages_seconds']}; "
        f"{batch['audit_rows_written']:,} audit rows; "
        f"features+predictions {batch['features_plus_predictions_rows_per_s']:,.0f} rows/s "
        f"(ratio {batch['ratio_features_plus_predictions']:.0%}); "
        f"audited (features+predictions+audit rows) {batch['audited_rows_per_s']:,.0f} rows/s; "
        f"raw inplace_predict {batch['raw_rows_per_s']:,.0f} rows/s -> "
        f"ratio {batch['ratio_audited']:.0%} (whole command {batch['ratio_command']:.0%})",
        flush=True,
    )
    cpu = batch["cpu_us_per_row"]
    print(
        f"batch CPU us/row: raw inplace_predict {cpu['raw_inplace_predict']:.1f}; predict_frame "
        f"{cpu['predictions']:.1f} + audit rows {cpu['audit_rows_client']:.1f} (this process) + "
        f"{cpu['audit_rows_postgresql']:.1f} (PostgreSQL backend) = {cpu['audited_total']:.1f} -> raw/audited "
        f"{cpu['ratio_raw_to_audited']:.0%}",
        flush=True,
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any]) -> str:
    """The README-ready summary of one run."""
    lines = [
        f"# Serving benchmark ({result['mode']} run, {result['finished_at']})",
        "",
        f"Machine: {result['platform']['cpus']} CPUs, load average {result['load_before']} before and "
        f"{result['load_after']} after (shared with other work); model {result['model']['version']}, "
        f"{result['model']['point_trees']} point trees + {result['model']['quantile_trees']} quantile rounds. "
        "Client and server share the machine.",
        "",
        "Command: `" + result["command"] + "`",
        "",
        "| server | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors | audit rows = 2xx | in-view ms p50/p99 "
        "| CPU ms/request (server + db; client) | load avg after rounds |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in result["serving"]["rows"] + result["mlflow"]["rows"]:
        audit = row.get("audit_check")
        check = "-" if audit is None else ("yes" if audit["is_exact"] else "NO")
        lines.append(
            f"| {row['server']} | {row['concurrency']} | {row['req_per_s']:.1f} | {_ms(row['p50_ms'])} | "
            f"{_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} | {row['errors']} | {check} | "
            f"{_ms(row['server_processing_p50_ms'])}/{_ms(row['server_processing_p99_ms'])} | "
            f"{_cpu(row)} | {', '.join(map(str, row.get('load_average_after_rounds', [])))} |"
        )
    lines += ["", "Worker options at concurrency 8 (short runs):", ""]
    for option in result["worker_options"]:
        row = option["rows"][0]
        lines.append(f"- {option['label']}: {row['req_per_s']:.1f} req/s, p99 {_ms(row['p99_ms'])} ms")
    lines.append(f"- chosen: {result['serving']['label']}")
    batch = result.get("batch")
    if batch:
        lines += [
            "",
            f"Batch, {batch['rows']:,} orders: `predict_batch` whole command {batch['command_seconds']:.1f} s "
            f"({batch['command_rows_per_s']:,.0f} rows/s); stages "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in batch["stages_seconds"].items())
            + f"; {batch['audit_rows_written']:,} audit rows; audited (features + predictions + audit rows) "
            f"{batch['audited_rows_per_s']:,.0f} rows/s vs raw inplace_predict {batch['raw_rows_per_s']:,.0f} "
            f"rows/s ({batch['ratio_audited']:.0%}; features + predictions alone "
            f"{batch['ratio_features_plus_predictions']:.0%}; whole command {batch['ratio_command']:.0%}).",
        ]
    ratio = result["targets"].get(f"throughput_vs_mlflow_c{RATIO_CONCURRENCY}")
    if ratio:
        lines += [
            "",
            f"Throughput ratio ours/mlflow at c={RATIO_CONCURRENCY}: {ratio['value']:.2f} pooled, per alternating "
            f"round {', '.join(f'{r:.2f}' for r in ratio['paired_round_ratios'])}; requests per CPU-second "
            f"ours/mlflow (ours counting its PostgreSQL backends) {_ratio(ratio['cpu_efficiency_ratio'])}.",
        ]
    lines += ["", "| target | goal | value | met |", "|---|---:|---:|---|"]
    for name, target in result["targets"].items():
        lines.append(f"| {name} | {target['target']} | {target['value']:.3g} | {'yes' if target['is_met'] else 'NO'} |")
    profile = result.get("profile")
    if profile:
        lines += [
            "",
            f"Profile, {profile['requests']} requests in-process ({profile['ms_per_request_plain']:.2f} ms wall, "
            f"{profile['cpu_ms_per_request_plain']:.2f} ms CPU each without timers):",
            "",
            "| stage (nested stages indented) | wall ms/request | CPU ms/request |",
            "|---|---:|---:|",
        ]
        for label, figures in profile["stages"].items():
            name = label.replace("  ", "&nbsp;&nbsp;")
            lines.append(f"| {name} | {figures['wall_ms']:.3f} | {figures['cpu_ms']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: seconds per level, small batch")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--levels", default="1,8,32", help="client concurrencies, comma-separated")
    parser.add_argument("--configs", default="3x2,2x4,3x1,4x1", help="gunicorn WORKERSxTHREADS options to compare")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per level (default 24)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per level (default 3)")
    parser.add_argument("--warmup", type=float, default=None, help="unmeasured seconds before a level (default 4)")
    parser.add_argument("--batch-rows", type=int, default=None, help="orders in the batch file (default 100000)")
    parser.add_argument("--orders", type=int, default=None, help="distinct orders the clients cycle through")
    parser.add_argument("--profile", type=int, default=0, help="also profile this many requests in-process")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--batch-only", action="store_true", help="setup and the batch step only (no servers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSON path (default bench/results/serving.json)")
    args = parser.parse_args(argv)
    quick = args.quick
    duration = args.duration or (3.0 if quick else 24.0)
    rounds = args.rounds or (1 if quick else 3)
    warmup = args.warmup or (1.0 if quick else 4.0)
    batch_rows = args.batch_rows or (5_000 if quick else 100_000)
    order_count = args.orders or (200 if quick else 2_000)
    levels = [int(level) for level in args.levels.split(",")]
    configs = [WorkerConfig.parse(text) for text in args.configs.split(",")]
    if quick and args.configs == parser.get_default("configs"):
        configs = configs[:1]
    output = args.output or RESULTS_DIR / (
        "serving-batch.json" if args.batch_only else "serving-quick.json" if quick else "serving.json"
    )
    var_dir = ROOT / "var" / "bench-serving"
    log_dir = var_dir / "logs"
    var_dir.mkdir(parents=True, exist_ok=True)

    # A SIGTERM must stop the servers too: turn it into an exception that runs every finally.
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    began = time.perf_counter()
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} on {os.cpu_count()} CPUs")

    env = bench_environment(args, var_dir)
    os.environ.update(env)
    created = database_ensure(args.database_url)
    say = lambda message: print(f"[{time.perf_counter() - began:6.1f}s] {message}", flush=True)  # noqa: E731
    say(f"database {'created' if created else 'exists'}; migrating")
    manage(env, "migrate", "--no-input")

    import django

    django.setup()
    history, history_kind = history_file(args, var_dir)
    setup_began = time.perf_counter()
    setup = tenant_setup(history, say)
    say(f"serving {setup.version_label} ({'reused' if setup.reused_model else 'trained now'})")
    if args.batch_only:
        return batch_only(args, env=env, setup=setup, history=history, rows=batch_rows, output=output, say=say)
    materialized = manage(env, "materialize_features", "--tenant", setup.slug).stdout.strip()
    say(materialized)
    setup_seconds = time.perf_counter() - setup_began

    from registry.loader import model_version_load
    from registry.models import ModelVersion

    predictor = model_version_load(version=ModelVersion.objects.get(pk=setup.version_id))
    bodies = order_bodies(history, order_count, args.seed)
    columns = list(predictor.feature_names)
    rows = feature_rows(setup.tenant_id, bodies, predictor.feature_names)
    say(f"{len(bodies)} distinct orders ready ({history_kind} history)")

    result: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "command": " ".join([".venv/bin/python", "bench/serving.py", *(argv if argv is not None else sys.argv[1:])]),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "history": {"path": str(history), "kind": history_kind},
        "setup_seconds": setup_seconds,
        "model": {
            "version": setup.version_label,
            "reused": setup.reused_model,
            "sha256": setup.artifact_sha256,
            "features": columns,
            "point_trees": predictor.summary.point_rounds,
            "quantile_trees": predictor.summary.quantile_rounds,
            "max_depth": predictor.config.max_depth,
        },
        "levels": levels,
        "seconds_per_level": duration,
        "rounds_per_level": rounds,
        "warmup_seconds": warmup,
        "distinct_orders": len(bodies),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as temporary:
            work_dir = Path(temporary)
            options, serving, mlflow_result = serving_phases(
                configs=configs,
                env=env,
                log_dir=log_dir,
                setup=setup,
                bodies=bodies,
                rows=rows,
                columns=columns,
                levels=levels,
                rounds=rounds,
                round_seconds=duration / rounds,
                warmup=warmup,
                sweep_rounds=1 if quick else 2,
                sweep_seconds=duration if quick else 5.0,
                work_dir=work_dir,
                say=say,
            )
            batch = None
            if not args.skip_batch:
                say(f"batch: {batch_rows:,} orders through predict_batch, and raw inplace_predict")
                batch = batch_benchmark(
                    env=env, setup=setup, history=history, rows=batch_rows, work_dir=work_dir, seed=args.seed
                )
                print_batch(batch)
            profile = None
            if args.profile:
                say(f"profiling {args.profile} requests in-process")
                profile = profile_requests(setup, bodies, args.profile, output.with_name(output.stem + "-profile.txt"))
                print(f"  {'stage':<52} {'wall ms':>8} {'CPU ms':>8}  (per request)")
                for label, figures in profile["stages"].items():
                    print(f"  {label:<52} {figures['wall_ms']:8.3f} {figures['cpu_ms']:8.3f}")
    finally:
        api_key_revoke_by_id(setup.api_key_id)

    result.update(
        {
            "worker_options": options,
            "serving": serving,
            "mlflow": mlflow_result,
            "batch": batch,
            "profile": profile,
            "targets": _targets(serving["rows"], mlflow_result["rows"], batch),
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in os.getloadavg()],
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "total_seconds": time.perf_counter() - began,
            "platform": _platform(),
        }
    )
    print()
    for row in serving["rows"] + mlflow_result["rows"]:
        print_row(row["server"], row)
    for name, target in result["targets"].items():
        print(
            f"target {name}: {target['value']:.3g} vs {target['target']} -> {'met' if target['is_met'] else 'NOT met'}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    print(f"written to {output} and {output.with_suffix('.md')} in {result['total_seconds']:.0f} s")
    return 0


def batch_only(
    args: argparse.Namespace,
    *,
    env: dict[str, str],
    setup: BenchTenant,
    history: Path,
    rows: int,
    output: Path,
    say: Callable[[str], None],
) -> int:
    """``--batch-only``: the batch step alone, its figures and target printed and written to ``output``."""
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as temporary:
            say(f"batch: {rows:,} orders through predict_batch, and raw inplace_predict")
            work_dir = Path(temporary)
            batch = batch_benchmark(env=env, setup=setup, history=history, rows=rows, work_dir=work_dir, seed=args.seed)
    finally:
        api_key_revoke_by_id(setup.api_key_id)
    print_batch(batch)
    target = _targets([], [], batch)["batch_vs_raw_inplace_predict"]
    print(
        f"target batch_vs_raw_inplace_predict: {target['value']:.3g} vs {target['target']} -> "
        f"{'met' if target['is_met'] else 'NOT met'}"
    )
    result = {
        "mode": "batch-only",
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "batch": batch,
        "target": target,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "platform": _platform(),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {output}")
    return 0


def _platform() -> dict[str, Any]:
    import mlflow
    import xgboost

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "xgboost": xgboost.__version__,
        "mlflow": mlflow.__version__,
        "commit": commit,
    }


if __name__ == "__main__":
    raise SystemExit(main())
