"""Feature fallback benchmark: what one order's features cost when the online store cannot answer.

    .venv/bin/python bench/feature_fallback.py              # ~20 s (+~30 s importing the first time)
    .venv/bin/python bench/feature_fallback.py --orders 200

Setup: its own PostgreSQL database (``--database-url``, created and migrated here) and a tenant with the
bundled delivery history (a synthetic one of 30,000 rows when ``../shared`` is absent), imported once.
Redis is pointed at a port where nothing listens, so every courier, restaurant and city state of every
order comes from the database, as during a Redis outage. Orders are history rows re-timed to the last 24
hours, as bench/serving.py sends them (new orders, not replays).

Measured in this process, without HTTP, by calling `online_features_for_order` once per order:

- ``cold``: the fallback cache off (``FEATURE_FALLBACK_CACHE_SECONDS=0``): every order reads its three
  entities' histories from the database, the worst case of an outage (and what every order cost before
  the cache existed);
- ``warm``: the cache as configured, orders one after another as one worker sees them: an entity is read
  again only when its cached state has expired.

Per phase: latency percentiles (ms), database queries and rows per order, and CPU ms per order of this
process. Results: a table on stdout and JSON in bench/results/feature-fallback.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Shared with the serving benchmark: database creation and the history file (bundled, else synthetic).
from serving import database_ensure, history_file  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "feature-fallback.json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/intellilog_bench_fallback"
# Nothing listens there: every online-store read is a real connection refused.
CLOSED_REDIS_URL = "redis://127.0.0.1:6390/0"
TENANT_SLUG = "bench-feature-fallback"


def say(message: str) -> None:
    print(message, flush=True)


def django_setup(args: argparse.Namespace, var_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "intellilog.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-feature-fallback-not-secret-" + "x" * 40,
            "DATABASE_URL": args.database_url,
            "REDIS_URL": CLOSED_REDIS_URL,
            "INTELLILOG_VAR_DIR": str(var_dir),
            "LOG_LEVEL": "ERROR",
            "FEATURE_STORE_KEY_PREFIX": "bench-feature-fallback:features",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def tenant_setup(history: Path) -> Any:
    from django.core.management import call_command

    from deliveries.models import ImportBatch
    from tenants.models import Tenant
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(
        slug=TENANT_SLUG, name="Feature fallback bench"
    )
    if not ImportBatch.objects.filter(tenant=tenant, rows_imported__gt=0).exists():
        say(f"importing {history}")
        with open(os.devnull, "w") as quiet:
            call_command("import_deliveries", str(history), tenant=tenant.slug, stdout=quiet, stderr=quiet)
    return tenant


def live_orders(tenant: Any, count: int, seed: int) -> list[dict[str, object]]:
    """``count`` history rows as new orders: same time of day, re-timed into the last 24 hours."""
    from zoneinfo import ZoneInfo

    from deliveries.selectors import deliveries_frame

    time_zone = ZoneInfo(tenant.time_zone)
    frame = deliveries_frame(tenant=tenant)
    rows = frame.sample(n=count, replace=len(frame) < count, random_state=seed)
    now = dt.datetime.now(time_zone)
    orders = []
    for row in rows.to_dict(orient="records"):
        local = row["ordered_at"].to_pydatetime().astimezone(time_zone)
        ordered_at = dt.datetime.combine(now.date(), local.time(), tzinfo=time_zone)
        if ordered_at > now:
            ordered_at -= dt.timedelta(days=1)
        picked = row["picked_at"]
        row["picked_at"] = None if picked is None or picked != picked else ordered_at + (picked - row["ordered_at"])
        row["ordered_at"] = ordered_at
        del row["delivery_minutes"]
        orders.append(row)
    return orders


@dataclass(frozen=True)
class PhaseFigures:
    orders: int
    fallback_orders: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    cpu_ms_per_order: float
    queries_per_order: float
    max_queries_per_order: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_phase(tenant: Any, orders: list[dict[str, object]], *, cache_seconds: int | None) -> PhaseFigures:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from features.services import online_features_for_order

    overrides = {} if cache_seconds is None else {"FEATURE_FALLBACK_CACHE_SECONDS": cache_seconds}
    latencies, queries, fallback = [], [], 0
    with override_settings(**overrides):
        online_features_for_order(tenant=tenant, order=orders[0])  # imports, connection, first Redis refusal
        cpu_began = time.process_time()
        for order in orders:
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                served = online_features_for_order(tenant=tenant, order=order)
                latencies.append((time.perf_counter() - began) * 1000)
            queries.append(len(captured))
            fallback += served.used_fallback
        cpu_ms = (time.process_time() - cpu_began) * 1000
    return PhaseFigures(
        orders=len(orders),
        fallback_orders=fallback,
        p50_ms=round(percentile(latencies, 50), 2),
        p90_ms=round(percentile(latencies, 90), 2),
        p99_ms=round(percentile(latencies, 99), 2),
        max_ms=round(max(latencies), 2),
        mean_ms=round(sum(latencies) / len(latencies), 2),
        cpu_ms_per_order=round(cpu_ms / len(orders), 2),
        queries_per_order=round(sum(queries) / len(queries), 2),
        max_queries_per_order=max(queries),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    var_dir = ROOT / "var" / "bench-feature-fallback"
    var_dir.mkdir(parents=True, exist_ok=True)

    created = database_ensure(args.database_url)
    say(f"database {'created' if created else 'exists'}; migrating")
    django_setup(args, var_dir)
    from django.conf import settings

    from deliveries.models import Delivery

    history, history_kind = history_file(args, var_dir)
    tenant = tenant_setup(history)
    orders = live_orders(tenant, args.orders, args.seed)
    say(f"{Delivery.objects.filter(tenant=tenant).count()} {history_kind} deliveries; {len(orders)} orders")

    phases = {
        "cold": run_phase(tenant, orders, cache_seconds=0),
        "warm": run_phase(tenant, orders, cache_seconds=None),
    }
    say(f"{'phase':<6}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'CPU/order':>11}{'queries':>9}  (ms)")
    for name, figures in phases.items():
        say(
            f"{name:<6}{figures.p50_ms:>9.2f}{figures.p90_ms:>9.2f}{figures.p99_ms:>9.2f}{figures.max_ms:>9.2f}"
            f"{figures.cpu_ms_per_order:>11.2f}{figures.queries_per_order:>9.2f}"
        )
    result = {
        "history": history_kind,
        "deliveries": Delivery.objects.filter(tenant=tenant).count(),
        "fallback_cache_seconds": getattr(settings, "FEATURE_FALLBACK_CACHE_SECONDS", None),
        "fallback_cache_entries": getattr(settings, "FEATURE_FALLBACK_CACHE_ENTRIES", None),
        "phases": {name: asdict(figures) for name, figures in phases.items()},
        "platform": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    say(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
