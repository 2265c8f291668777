"""Bulk outcomes benchmark: `manage.py import_outcomes` on files of 100,000 and 1,000,000 outcomes.

    DEBUG=true .venv/bin/python bench/outcomes.py --database-url postgres://postgres@127.0.0.1:5432/intellilog_bench_outcomes

For each size: a fresh tenant whose N predictions are written straight into the audit table by one
set-wise INSERT (the setup is not what is measured), a CSV of one outcome per order (an actual time a few
minutes off the prediction), then `manage.py import_outcomes` in a child process, timed, with its peak
resident memory (ru_maxrss of the child). The same figure for `manage.py check` (Django and the project
loaded, nothing imported) is the floor: bounded memory means the import's peak barely grows from 100k to
1M rows. Every import is then checked: N deliveries and N joined outcomes stored. Results: a table on
stdout and bench/results/outcomes.json. The database is created if missing and left for the next run;
drop it when done (`dropdb`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Shared with the serving benchmark: create the benchmark's database when it is missing.
from serving import database_ensure  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "outcomes.json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/intellilog_bench_outcomes"


def predictions_create(rows: int) -> tuple[str, list[tuple[str, float]]]:
    """A new tenant with `rows` audited predictions (one per order); returns its slug and (order, ETA) pairs."""
    from django.db import connection

    from registry.services import model_version_allocate, registered_model_get_or_create
    from tenants.services import tenant_create

    tenant = tenant_create(slug=f"bench-outcomes-{rows}-{int(time.time())}")
    version = model_version_allocate(
        registered_model=registered_model_get_or_create(tenant=tenant, name="eta"), created_by="bench"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO predictions_predictionaudit (id, source, request_id, order_id, request_sha256, request,
                "order", features, feature_freshness, used_fallback, artifact_sha256, predicted_eta_minutes,
                quantiles, confidence_score, is_ood, response, latency_ms, created_at, model_version_id, tenant_id)
            SELECT gen_random_uuid(), 'api', 'bench', 'o' || n, repeat('0', 64), '{}',
                jsonb_build_object('order_id', 'o' || n, 'courier_id', 'c' || (n %% 500),
                    'ordered_at', to_char(now() - interval '2 hours', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                    'picked_at', to_char(now() - interval '110 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                    'pickup_latitude', 22.74, 'pickup_longitude', 75.89, 'drop_latitude', 22.76,
                    'drop_longitude', 75.91, 'distance_km', NULL, 'has_usable_coordinates', true,
                    'weather', 'Sunny', 'traffic', 'High', 'vehicle', 'motorcycle', 'area', 'Urban',
                    'courier_age', 30.0, 'courier_rating', 4.7),
                '{}', '{}', false, repeat('0', 64), 20 + (n %% 30), '{}', 0.9, false, '{}', 5.0, now(), %s, %s
            FROM generate_series(1, %s) AS n
            """,
            [version.pk, tenant.pk, rows],
        )
        cursor.execute(
            "SELECT order_id, predicted_eta_minutes FROM predictions_predictionaudit WHERE tenant_id = %s", [tenant.pk]
        )
        pairs = cursor.fetchall()
    return tenant.slug, pairs


def child(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a manage.py command in a child; its wall seconds, peak RSS (MiB) and output."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of outcomes")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    database_ensure(args.database_url)
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"}
    env.pop("CELERY_BROKER_URL", None)  # the feature refresh after commit runs inline: not in the measure
    os.environ.update({"DJANGO_SETTINGS_MODULE": "intellilog.settings", **env})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    from predictions.models import PredictionOutcome

    # ru_maxrss of children is the largest of any child so far: the floor first, then sizes in rising order.
    _, floor_mib, _ = child(["check"], env)
    print(f"floor (manage.py check): peak RSS {floor_mib:.0f} MiB")
    runs = []
    for rows in sorted(sizes):
        slug, pairs = predictions_create(rows)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "outcomes.csv"
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["order_id", "delivery_minutes"])
                writer.writerows((order_id, round(eta + 3.5, 2)) for order_id, eta in pairs)
            del pairs
            size_mib = path.stat().st_size / 2**20
            # Without the inline feature refresh (a materialisation of the whole tenant, not the import itself).
            seconds, peak_mib, output = child(
                ["import_outcomes", str(path), "--tenant", slug], env | {"CELERY_BROKER_URL": "memory://localhost"}
            )
        stored = PredictionOutcome.objects.filter(tenant__slug=slug).count()
        if stored != rows:
            raise SystemExit(f"{rows} outcomes: {stored} stored ({output})")
        runs.append(
            {
                "rows": rows,
                "file_mib": round(size_mib, 1),
                "seconds": round(seconds, 1),
                "rows_per_second": round(rows / seconds),
                "peak_rss_mib": round(peak_mib),
                "output": output,
            }
        )
        print(
            f"{rows:>9,} outcomes ({size_mib:.0f} MiB CSV): {seconds:7.1f} s, {rows / seconds:8,.0f} rows/s, "
            f"peak RSS {peak_mib:.0f} MiB  | {output}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": f"{platform.node()} ({os.cpu_count()} cores)",
                "floor_peak_rss_mib": round(floor_mib),
                "runs": runs,
                "command": " ".join(sys.argv),
            },
            indent=2,
        )
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
