"""Audit volume bench: the prediction audit's insert rate from an empty table to 50 million rows.

    .venv/bin/python bench/audit_volume.py                           # partitioned, checkpoints 0, 10M, 25M, 50M
    .venv/bin/python bench/audit_volume.py --layout plain --checkpoints 0,10000000   # the unpartitioned table
    .venv/bin/python bench/audit_volume.py --checkpoints 0,200000 --probe-rows 500    # a smoke run (~1 min)

In its own PostgreSQL database (``--database-url``, created and migrated when absent, emptied at the start),
the audit table is filled to each checkpoint with rows generated in the database (``INSERT ... SELECT`` over
``generate_series``: one year of traffic ending now, in time order, one tenant, every index and trigger of the
real table), and at each checkpoint the app's own insert path is timed:

- ``single``: `PredictionAudit.save(force_insert=True)` in autocommit, one row per statement, as
  `prediction_serve` writes a request without an idempotency key;
- ``keyed``: the same with an idempotency key (the key trigger adds its side-table insert);
- ``batch100``: `bulk_create` of 100 rows in one transaction, as the batch API writes them.

Probe rows carry the JSON of a real served prediction (about 3 KB: request, order, 25 features with freshness,
response with quantiles and explanation) and are stamped now, so they go to the current month's partition.
Generated rows carry small JSON (disk: 50M real rows would be ~150 GB) but the same index keys (random UUID id,
request id, order id), which is what an insert's cost grows with. ``--layout plain`` rebuilds the table
unpartitioned first (same columns, indexes and triggers) for the comparison.

Figures on stdout and in bench/results/audit_volume_<layout>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serving import database_ensure  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/il_scale_audit_bench"
DEFAULT_CHECKPOINTS = "0,10000000,25000000,50000000"
# Rows generated per INSERT ... SELECT: one statement's transaction stays a few seconds long.
FILL_CHUNK = 1_000_000
# The generated year: rows are spread evenly over it, oldest first.
FILL_SPAN = dt.timedelta(days=365)
FILL_TOTAL_DEFAULT = 50_000_000


@dataclass(frozen=True)
class ProbeResult:
    """One timed run of an insert path: rows written, seconds, rows per second."""

    path: str
    rows: int
    seconds: float
    rows_per_second: float


@dataclass(frozen=True)
class Checkpoint:
    """The table at one size and the insert rates measured there."""

    table_rows: int
    current_partition_rows: int | None
    table_bytes: int
    fill_seconds: float
    probes: list[ProbeResult]


def _database_recreate(url: str) -> None:
    """Drop the bench's database if it exists and create it empty: the audit table is append-only, so a fresh
    table is a fresh database."""
    import urllib.parse

    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not database_ensure(url):
        admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        database_ensure(url)


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")
    import django

    django.setup()


def _prepare(layout: str) -> tuple[int, int]:
    """The migrated, empty audit table in ``layout``, one tenant and one model version; their ids."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from predictions.constants import AUDIT_PARTITION_MONTHS_AHEAD
    from predictions.partitions import audit_table_rebuild
    from registry.models import ModelVersion, RegisteredModel
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    if layout == "plain":
        with transaction.atomic(), connection.cursor() as cursor:
            audit_table_rebuild(
                cursor, partitioned=False, now=timezone.now(), months_ahead=AUDIT_PARTITION_MONTHS_AHEAD
            )
    tenant = Tenant.objects.create(slug="bench-audit", name="Audit volume bench")
    registered = RegisteredModel.objects.create(tenant=tenant, name="eta")
    version = ModelVersion.objects.create(
        registered_model=registered, tenant=tenant, version=1, created_by="bench", artifact_sha256="0" * 64
    )
    return tenant.pk, version.pk


_COLUMNS = """(id, tenant_id, source, request_id, order_id, idempotency_key, request_sha256, request, "order", features,
    feature_freshness, used_fallback, model_version_id, artifact_sha256, predicted_eta_minutes, quantiles,
    confidence_score, is_ood, response, latency_ms, created_at)"""
_ROWS_SQL = """
    SELECT gen_random_uuid(), %(tenant)s, 'api', md5('request' || g), 'order-' || g, NULL, %(sha)s,
        '{"order_id": "generated"}'::jsonb, '{"order_id": "generated"}'::jsonb, '{"distance_km": 7.5}'::jsonb,
        '{}'::jsonb, false, %(version)s, %(sha)s, 30 + g %% 20, '{"p50": 30.0}'::jsonb, 0.8, false,
        '{"predicted_eta_minutes": 30.0}'::jsonb, 12.5, served.at
    FROM generate_series(%(low)s + 1, %(high)s) AS g,
        LATERAL (SELECT %(origin)s + make_interval(secs => g * %(step)s / 1e6) AS at) AS served
    WHERE served.at >= %(from)s AND served.at < %(to)s
"""


def _partition_indexes(cursor: object, partition: str) -> list[str]:
    """The parent's index definitions, retargeted at one partition (PostgreSQL attaches them by definition)."""
    from predictions.partitions import TABLE

    cursor.execute(  # type: ignore[attr-defined]
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary", [TABLE]
    )
    definitions = []
    for (definition,) in cursor.fetchall():  # type: ignore[attr-defined]
        columns = definition[definition.index(" USING ") :]
        definitions.append(f"CREATE INDEX ON {partition}{columns}")
    return definitions


def _month_load(
    cursor: object, *, month: dt.date, low: int, high: int, logged: bool, params: dict[str, object]
) -> None:
    """Rows ``low`` < g <= ``high`` (all in ``month``) into the month's partition, loaded as bulk loads are done.

    The partition is detached (if attached), its indexes dropped, the rows inserted into the bare table, the
    indexes built in one sort each, and the partition attached again. The table that results is the same as if
    every row had been inserted one by one, which would take hours here; the insert rate is then measured on it.
    Months other than the current one may be UNLOGGED: they take no inserts, and their WAL would only cost disk.
    """
    from predictions.partitions import TABLE, month_bounds, partition_name, partitions_list

    name = partition_name(month)
    start, end = month_bounds(month)
    attached = month in {partition.month for partition in partitions_list(cursor)}  # type: ignore[arg-type]
    if attached:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")  # type: ignore[attr-defined]
        cursor.execute(  # type: ignore[attr-defined]
            "SELECT indexrelid::regclass::text, indisprimary FROM pg_index WHERE indrelid = %s::regclass", [name]
        )
        for index, is_primary in cursor.fetchall():  # type: ignore[attr-defined]
            statement = f"ALTER TABLE {name} DROP CONSTRAINT {index}" if is_primary else f"DROP INDEX {index}"
            cursor.execute(statement)  # type: ignore[attr-defined]
    else:
        persistence = "" if logged else "UNLOGGED "
        cursor.execute(  # type: ignore[attr-defined]
            f"CREATE {persistence}TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    bounds = {"from": start, "to": end}
    cursor.execute(f"INSERT INTO {name} {_COLUMNS} {_ROWS_SQL}", {**params, "low": low, "high": high, **bounds})  # type: ignore[attr-defined]
    cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id, created_at)")  # type: ignore[attr-defined]
    for definition in _partition_indexes(cursor, name):
        cursor.execute(definition)  # type: ignore[attr-defined]
    # A CHECK matching the bounds spares ATTACH its validating scan.
    cursor.execute(  # type: ignore[attr-defined]
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds "
        f"CHECK (created_at >= '{start.isoformat()}' AND created_at < '{end.isoformat()}')"
    )
    cursor.execute(  # type: ignore[attr-defined]
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")  # type: ignore[attr-defined]


def _plain_load(cursor: object, *, low: int, high: int, params: dict[str, object]) -> None:
    """Rows ``low`` < g <= ``high`` into the plain table: indexes dropped, rows inserted, indexes rebuilt."""
    from predictions.partitions import TABLE

    cursor.execute(  # type: ignore[attr-defined]
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND NOT indisprimary",
        [TABLE],
    )
    indexes = cursor.fetchall()  # type: ignore[attr-defined]
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")  # type: ignore[attr-defined]
    cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {TABLE}_pkey")  # type: ignore[attr-defined]
    everywhere = {"from": dt.datetime.min.replace(tzinfo=dt.UTC), "to": dt.datetime.max.replace(tzinfo=dt.UTC)}
    cursor.execute(f"INSERT INTO {TABLE} {_COLUMNS} {_ROWS_SQL}", {**params, "low": low, "high": high, **everywhere})  # type: ignore[attr-defined]
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")  # type: ignore[attr-defined]
    for _, definition in indexes:
        cursor.execute(definition)  # type: ignore[attr-defined]


def _fill(*, tenant_id: int, version_id: int, start: int, stop: int, total: int, origin: dt.datetime) -> None:
    """Rows ``start`` < g <= ``stop`` of ``total`` spread evenly over FILL_SPAN from ``origin``."""
    from django.db import connection, transaction

    from predictions.partitions import is_partitioned, month_add, month_bounds, month_of

    if stop <= start:
        return
    step = FILL_SPAN / total
    params = {
        "tenant": tenant_id,
        "version": version_id,
        "sha": "0" * 64,
        "origin": origin,
        "step": step / dt.timedelta(microseconds=1),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Generated rows refer to existing rows: their foreign-key checks and triggers are skipped.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        if not is_partitioned(cursor):
            _plain_load(cursor, low=start, high=stop, params=params)
            return
        current = month_of(dt.datetime.now(dt.UTC))
        month, last = month_of(origin + step * (start + 1)), month_of(origin + step * stop)
        while month <= last:
            # This month's rows by the SQL's own instants; the candidates' margin covers float rounding.
            month_start, month_end = month_bounds(month)
            low = max(start, math.floor((month_start - origin) / step) - 2)
            high = min(stop, math.ceil((month_end - origin) / step) + 2)
            _month_load(cursor, month=month, low=low, high=high, logged=month >= current, params=params)
            month = month_add(month, 1)


def _payload() -> dict[str, object]:
    """The JSON fields of a real served prediction, of real size (about 3 KB in all)."""
    from core.features import FEATURES_BY_NAME

    features = {name: 1.0 + index / 7 for index, name in enumerate(FEATURES_BY_NAME)}
    freshness = {
        name: {"status": "fresh", "source": "online_store", "computed_at": "2026-12-06T08:00:00+00:00"}
        for name in FEATURES_BY_NAME
    }
    quantiles = {"p10": 21.5, "p25": 25.25, "p50": 29.75, "p75": 34.5, "p90": 39.0}
    order = {
        "order_id": "order-0",
        "pickup_latitude": 22.745049,
        "pickup_longitude": 75.892471,
        "drop_latitude": 22.765049,
        "drop_longitude": 75.912471,
        "traffic": "high",
        "weather": "sunny",
        "ordered_at": "2026-12-06T11:30:00+05:30",
        "vehicle": "motorcycle",
        "courier_id": "INDORES13DEL02",
        "area": "urban",
        "courier_age": 37,
        "courier_rating": 4.9,
    }
    response = {
        "order_id": "order-0",
        "predicted_eta_minutes": 29.75,
        "quantiles": quantiles,
        "confidence_score": 0.81,
        "is_ood": False,
        "out_of_range_features": [],
        "explanation": {"base": 26.0, "top": [{"feature": name, "minutes": 0.5} for name in list(features)[:5]]},
        "feature_freshness": freshness,
        "used_fallback": False,
    }
    return {
        "request": order,
        "order": order,
        "features": features,
        "feature_freshness": freshness,
        "quantiles": quantiles,
        "response": response,
    }


def _probe_audits(*, tenant_id: int, version_id: int, count: int, keyed: bool) -> list[object]:
    from django.utils import timezone

    from predictions.models import PredictionAudit

    payload = _payload()
    now = timezone.now()
    return [
        PredictionAudit(
            tenant_id=tenant_id,
            source="api",
            request_id=uuid.uuid4().hex,
            order_id=f"probe-{uuid.uuid4().hex[:12]}",
            idempotency_key=uuid.uuid4().hex if keyed else None,
            request_sha256="0" * 64,
            used_fallback=False,
            model_version_id=version_id,
            artifact_sha256="0" * 64,
            predicted_eta_minutes=29.75,
            confidence_score=0.81,
            is_ood=False,
            latency_ms=12.5,
            created_at=now,
            **payload,
        )
        for _ in range(count)
    ]


def _probe(*, tenant_id: int, version_id: int, rows: int) -> list[ProbeResult]:
    """The app's insert paths timed at the table's current size (see the module docstring)."""
    from django.db import transaction

    from predictions.models import PredictionAudit

    results = []
    for path, keyed in (("single", False), ("keyed", True)):
        audits = _probe_audits(tenant_id=tenant_id, version_id=version_id, count=rows, keyed=keyed)
        started = time.perf_counter()
        for audit in audits:
            audit.save(force_insert=True)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        results.append(ProbeResult(path=path, rows=rows, seconds=seconds, rows_per_second=rows / seconds))
    audits = _probe_audits(tenant_id=tenant_id, version_id=version_id, count=rows, keyed=False)
    started = time.perf_counter()
    for low in range(0, rows, 100):
        with transaction.atomic():
            PredictionAudit.objects.bulk_create(audits[low : low + 100])  # type: ignore[misc]
    seconds = time.perf_counter() - started
    results.append(ProbeResult(path="batch100", rows=rows, seconds=seconds, rows_per_second=rows / seconds))
    return results


def _table_size() -> tuple[int, int, int | None]:
    """Rows in the table, its bytes with indexes, and rows in the current month's partition (None if plain)."""
    from django.db import connection
    from django.utils import timezone

    from predictions.partitions import TABLE, is_partitioned, month_of, partition_name

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        (rows,) = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s::regclass)", [TABLE]
        )
        (size,) = cursor.fetchone()
        current = None
        if is_partitioned(cursor):
            cursor.execute(f"SELECT count(*) FROM {partition_name(month_of(timezone.now()))}")
            (current,) = cursor.fetchone()
    return rows, int(size), current


def _print_checkpoint(checkpoint: Checkpoint) -> None:
    rates = "  ".join(f"{probe.path} {probe.rows_per_second:,.0f} rows/s" for probe in checkpoint.probes)
    current = "" if checkpoint.current_partition_rows is None else f", {checkpoint.current_partition_rows:,} this month"
    print(
        f"{checkpoint.table_rows:>12,} rows ({checkpoint.table_bytes / 2**30:.1f} GiB{current}, "
        f"filled in {checkpoint.fill_seconds:,.0f} s): {rates}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--layout", choices=["partitioned", "plain"], default="partitioned")
    parser.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS, help="table sizes (rows), comma-separated")
    parser.add_argument("--probe-rows", type=int, default=2000, help="rows each insert path writes per checkpoint")
    parser.add_argument(
        "--total", type=int, default=FILL_TOTAL_DEFAULT, help="rows the generated year holds (spacing of instants)"
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    checkpoints = [int(text) for text in args.checkpoints.split(",")]
    if checkpoints != sorted(checkpoints):
        parser.error("--checkpoints: give them in increasing order")
    output = args.output or ROOT / "bench" / "results" / f"audit_volume_{args.layout}.json"

    _database_recreate(args.database_url)
    _setup_django(args.database_url)
    tenant_id, version_id = _prepare(args.layout)
    origin = dt.datetime.now(dt.UTC) - FILL_SPAN
    print(f"audit table, {args.layout}; probes of {args.probe_rows} rows per path", flush=True)
    results: list[Checkpoint] = []
    generated = 0
    for target in checkpoints:
        started = time.perf_counter()
        _fill(tenant_id=tenant_id, version_id=version_id, start=generated, stop=target, total=args.total, origin=origin)
        generated = max(generated, target)
        fill_seconds = time.perf_counter() - started
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE predictions_predictionaudit")
        probes = _probe(tenant_id=tenant_id, version_id=version_id, rows=args.probe_rows)
        rows, size, current = _table_size()
        checkpoint = Checkpoint(
            table_rows=rows, current_partition_rows=current, table_bytes=size, fill_seconds=fill_seconds, probes=probes
        )
        _print_checkpoint(checkpoint)
        results.append(checkpoint)
    single = [next(p.rows_per_second for p in c.probes if p.path == "single") for c in results]
    summary = {
        "layout": args.layout,
        "checkpoints": [asdict(checkpoint) for checkpoint in results],
        "single_last_over_first": single[-1] / single[0],
        "single_median_rows_per_second": statistics.median(single),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "command": " ".join(sys.argv),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"single-row rate at the last checkpoint / at the first: {summary['single_last_over_first']:.2f}")
    print(f"written {output}")


if __name__ == "__main__":
    main()
