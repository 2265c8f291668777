"""Where an import's time goes: CPU of the importer process and of its PostgreSQL backend, per stage.

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/il_<db> .venv/bin/python bench/import_profile.py FILE
    cd /tmp/old && PYTHONPATH=. DEBUG=true DATABASE_URL=... python <this checkout>/bench/import_profile.py FILE
        # another checkout's importer, same environment and database (it prints which one ran)

Imports FILE for the tenant ``import-profile`` (created if missing) with the product's `deliveries_import`,
committed, then deletes what it wrote (outside the measurement). On a machine shared with other work,
wall time measures the neighbours too; the CPU seconds of the two processes are the steadier figures: the
importer process's (``time.process_time``, all its threads) and its PostgreSQL backend's (utime + stime
from ``/proc/<pid>/stat``: the server must run on this host). Per stage, the same three figures. An idle
2-core host needs at least max(importer, backend) and at most their sum: both bounds are printed as
rows per second. Results are written as JSON (``--output``, default bench/results/import-profile.json).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT_SLUG = "import-profile"


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "import-profile.json")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")
    import django

    django.setup()
    from django.db import connection

    import deliveries.services as services
    from deliveries.models import Delivery, ImportBatch
    from deliveries.staging import ImportStaging
    from tenants.models import Tenant

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stages: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])

    def timed(name: str, function: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(function)
        def wrapper(*positional: object, **keywords: object) -> object:
            wall, own, server = time.perf_counter(), time.process_time(), backend_cpu(pid)
            try:
                return function(*positional, **keywords)
            finally:
                figures = stages[name]
                figures[0] += time.perf_counter() - wall
                figures[1] += time.process_time() - own
                figures[2] += backend_cpu(pid) - server

        return wrapper

    # The chunk loop's stages overlap with the reader thread, whose CPU lands in whichever stage is timed.
    for name in ("add", "count", "outliers", "sample", "insert"):
        setattr(ImportStaging, name, timed(f"staging.{name}", getattr(ImportStaging, name)))
    services.deliveries_frame = timed("reference sample", services.deliveries_frame)  # type: ignore[attr-defined]

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or Tenant.objects.create(slug=TENANT_SLUG, name="")
    Delivery.objects.filter(tenant=tenant).delete()
    ImportBatch.objects.filter(tenant=tenant).delete()
    wall, own, server = time.perf_counter(), time.process_time(), backend_cpu(pid)
    outcome = services.deliveries_import(tenant=tenant, path=args.file)  # its own transaction, committed
    wall, own, server = time.perf_counter() - wall, time.process_time() - own, backend_cpu(pid) - server
    batch = outcome.batch
    Delivery.objects.filter(tenant=tenant).delete()
    ImportBatch.objects.filter(tenant=tenant).delete()

    rows = batch.rows_read
    print(f"importer: {services.__file__}")
    print(f"{args.file.name}: {rows:,} rows read, {batch.rows_imported:,} imported, {batch.rows_rejected:,} rejected")
    print(f"{'stage':<20} {'wall s':>8} {'importer CPU s':>15} {'backend CPU s':>14}")
    for name, (stage_wall, stage_own, stage_server) in stages.items():
        print(f"{name:<20} {stage_wall:>8.2f} {stage_own:>15.2f} {stage_server:>14.2f}")
    print(f"{'whole import':<20} {wall:>8.2f} {own:>15.2f} {server:>14.2f}   (load {os.getloadavg()[0]:.1f})")
    fastest, slowest = rows / max(own, server), rows / (own + server)
    print(f"idle 2-core estimate: {slowest:,.0f} to {fastest:,.0f} rows/s; measured {rows / wall:,.0f} rows/s of wall")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": " ".join(sys.argv),
        "importer": services.__file__,
        "rows": rows,
        "wall_seconds": round(wall, 2),
        "importer_cpu_seconds": round(own, 2),
        "backend_cpu_seconds": round(server, 2),
        "idle_rows_per_second_range": [round(slowest), round(fastest)],
        "load_1m": os.getloadavg()[0],
        "stages": {name: [round(v, 2) for v in figures] for name, figures in stages.items()},
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
