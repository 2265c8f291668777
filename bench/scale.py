"""Scale benchmark: generate, import, train, materialise and batch-predict synthetic histories of growing size.

    .venv/bin/python bench/scale.py                              # 100k and 1M rows, every stage
    .venv/bin/python bench/scale.py --sizes 10m --stages import  # 10M rows, the import only
    .venv/bin/python bench/scale.py --sizes 1m --stages import --project-dir /tmp/old  # another checkout

Per size: a fresh PostgreSQL database (``<--database-url>_<size>``, dropped at the end unless
``--keep-databases``), a tenant, and a synthetic history from ``generate_deliveries`` (reused from
``--history-dir`` when it is there and the generate stage is not asked for). Every stage is the
product's own management command run in a subprocess of its own (``generate_deliveries``,
``import_deliveries``, ``train_eta`` (the new version then promoted, outside the measurement),
``materialize_features``, ``predict_batch`` scoring an orders file: the history's rows that a batch accepts,
outcome left empty, written before the stage and not timed), so a stage's peak memory is
that process's maximum resident set size (``wait4``), and its time the process's wall time, start-up
included. Between consecutive sizes, the growth exponent k of time ~ rows^k (1 = linear) and of peak
memory is printed. ``--project-dir`` runs another checkout's commands (its own manage.py, same Python
environment), to measure before and after a change on the same machine.

Results: a table on stdout and JSON in bench/results/scale.json (``--output``). Scratch files (the
history, artifacts, MLflow store) go under ``--scratch`` and are removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.delivery.chunks import normalize_chunk  # noqa: E402 - after the checkout is on the path
from core.delivery.schema import RAW_COLUMNS, read_raw_chunks  # noqa: E402

STAGES = ("generate", "import", "train", "materialise", "predict")
SIZE_SUFFIXES = {"k": 1_000, "m": 1_000_000}
TENANT_SLUG = "scale-bench"
TENANT_TIME_ZONE = "Asia/Kolkata"
SEED = 42


@dataclass(frozen=True)
class StageResult:
    rows: int
    stage: str
    seconds: float
    # The stage's own CPU time (user + system; not the database server's): on a machine shared with other
    # work, wall time measures the neighbours too.
    cpu_seconds: float
    peak_rss_mb: float
    returncode: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else math.nan


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = SIZE_SUFFIXES.get(text[-1:], 1)
    return int(float(text[:-1] if text[-1:] in SIZE_SUFFIXES else text) * factor)


def size_label(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1_000}k"


def run_measured(command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float, float, int]:
    """Run ``command``; its wall seconds, CPU seconds, peak resident memory (MB) and exit status."""
    started = time.perf_counter()
    with open(log, "ab") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in kilobytes.
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def write_orders(history: Path, orders: Path) -> int:
    """The history's rows that `predict_batch` accepts, outcome emptied, as an orders file; how many.

    The synthetic history holds dirty rows on purpose, and a batch with one invalid row is refused
    whole; the product's own normaliser (``outcome_required=False``, as a batch reads) picks the rows.
    """
    now = dt.datetime.now(dt.UTC)
    written = 0
    with pa.CompressedOutputStream(str(orders), "gzip") as sink:
        writer = None
        for chunk in read_raw_chunks(history, chunk_rows=200_000):
            normalized = normalize_chunk(chunk, time_zone=ZoneInfo(TENANT_TIME_ZONE), now=now, outcome_required=False)
            is_clean = np.isin(np.asarray(chunk.line_numbers), normalized.accepted["line_number"].to_numpy())
            columns = {name: chunk.columns[name].filter(pa.array(is_clean)) for name in RAW_COLUMNS}
            columns["delivery_minutes"] = pa.array([""] * int(is_clean.sum()), type=pa.string())
            table = pa.table(columns)
            writer = writer or pa_csv.CSVWriter(sink, table.schema)
            writer.write_table(table)
            written += table.num_rows
        if writer is not None:
            writer.close()
    return written


def psql(database_url: str, sql: str) -> None:
    server, _, _ = database_url.rpartition("/")
    subprocess.run(["psql", f"{server}/postgres", "-q", "-c", sql], check=True, capture_output=True)


PROMOTE = """
from django.contrib.auth import get_user_model
from registry.models import ModelVersion
from registry.services import approvers_group_ensure, promotion_request_approve, promotion_request_create
users = get_user_model()
maker, _ = users.objects.get_or_create(username="bench-scale-maker", defaults={"is_staff": True})
checker, _ = users.objects.get_or_create(username="bench-scale-checker", defaults={"is_staff": True})
checker.groups.add(approvers_group_ensure())
version = ModelVersion.objects.filter(registered_model__tenant__slug="TENANT").order_by("-pk").first()
request = promotion_request_create(version=version, user=maker, reason="scale benchmark")
promotion_request_approve(request=request, user=checker, comment="benchmark auto-approval")
""".replace("TENANT", TENANT_SLUG)


def bench_size(rows: int, args: argparse.Namespace, log: Path) -> list[StageResult]:
    label = size_label(rows)
    database_url = f"{args.database_url}_{label}"
    database = database_url.rpartition("/")[2]
    scratch = args.scratch / label
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url,
        "INTELLILOG_VAR_DIR": str(scratch),
        "FEATURE_STORE_KEY_PREFIX": f"intellilog-scale-bench:{label}",
        "PYTHONPATH": str(args.project_dir),
    }
    manage = [sys.executable, str(args.project_dir / "manage.py")]
    history = (args.history_dir or scratch) / f"synthetic-{rows}-{SEED}.csv.gz"
    orders = scratch / "orders.csv.gz"
    commands = {
        "generate": [*manage, "generate_deliveries", f"--rows={rows}", f"--seed={SEED}", f"--output={history}"],
        "import": [*manage, "import_deliveries", str(history), "--tenant", TENANT_SLUG],
        "train": [*manage, "train_eta", "--tenant", TENANT_SLUG],
        "materialise": [*manage, "materialize_features", "--tenant", TENANT_SLUG],
        "predict": [*manage, "predict_batch", str(orders), str(scratch / "scored.csv"), "--tenant", TENANT_SLUG],
    }
    psql(database_url, f'DROP DATABASE IF EXISTS "{database}"')
    psql(database_url, f'CREATE DATABASE "{database}"')
    results = []
    try:
        for setup in (["migrate", "-v", "0"], ["create_tenant", TENANT_SLUG, f"--time-zone={TENANT_TIME_ZONE}"]):
            subprocess.run([*manage, *setup], cwd=args.project_dir, env=env, check=True, capture_output=True)
        for stage in STAGES:
            if stage not in args.stages and not (stage == "generate" and not history.exists()):
                continue
            stage_rows = write_orders(history, orders) if stage == "predict" else rows
            print(f"[{dt.datetime.now():%H:%M:%S}] {label}: {stage} ({stage_rows:,} rows)", flush=True)
            seconds, cpu, peak_mb, status = run_measured(commands[stage], env=env, cwd=args.project_dir, log=log)
            results.append(StageResult(stage_rows, stage, round(seconds, 2), round(cpu, 2), round(peak_mb, 1), status))
            rate = stage_rows / seconds
            print(f"    {seconds:8.1f} s ({cpu:.1f} s CPU)  {rate:10,.0f} rows/s  {peak_mb:8.0f} MB  exit {status}")
            if status != 0:
                print(f"    failed: see {log}")
                break
            if stage == "train" and "predict" in args.stages:
                subprocess.run([*manage, "shell", "-c", PROMOTE], cwd=args.project_dir, env=env, check=True)
    finally:
        if not args.keep_databases:
            psql(database_url, f'DROP DATABASE IF EXISTS "{database}"')
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def growth(results: list[StageResult]) -> list[dict[str, object]]:
    """Per stage and consecutive pair of sizes: k in time ~ rows^k and memory ~ rows^k."""
    rows = []
    for stage in STAGES:
        runs = sorted((r for r in results if r.stage == stage and r.returncode == 0), key=lambda r: r.rows)
        for small, large in itertools.pairwise(runs):
            scale = math.log(large.rows / small.rows)
            rows.append(
                {
                    "stage": stage,
                    "from_rows": small.rows,
                    "to_rows": large.rows,
                    "time_exponent": round(math.log(large.seconds / small.seconds) / scale, 2),
                    "memory_exponent": round(math.log(large.peak_rss_mb / small.peak_rss_mb) / scale, 2),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["100k", "1m"], help="rows per history, e.g. 100k 1m 10m")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="checkout whose manage.py runs the stages")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/il_scale_import_bench")
    parser.add_argument("--scratch", type=Path, default=ROOT / "var" / "bench-scale")
    parser.add_argument(
        "--history-dir", type=Path, default=None, help="keep generated histories here and reuse them (default: scratch)"
    )
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args()
    args.project_dir = args.project_dir.resolve()
    sizes = sorted(parse_size(size) for size in args.sizes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    log = args.output.with_suffix(".log")
    log.write_text("")

    results: list[StageResult] = []
    for rows in sizes:
        results.extend(bench_size(rows, args, log))

    print(f"\n{'rows':>11} {'stage':<12} {'wall s':>9} {'CPU s':>9} {'rows/s':>11} {'peak MB':>9}")
    for r in results:
        print(
            f"{r.rows:>11,} {r.stage:<12} {r.seconds:>9.1f} {r.cpu_seconds:>9.1f} {r.rows_per_second:>11,.0f} "
            f"{r.peak_rss_mb:>9.0f}"
        )
    exponents = growth(results)
    for e in exponents:
        print(
            f"{e['stage']:<12} {e['from_rows']:,} -> {e['to_rows']:,}: time ~ rows^{e['time_exponent']}, "
            f"memory ~ rows^{e['memory_exponent']}"
        )
    payload = {
        "command": " ".join(sys.argv),
        "project_dir": str(args.project_dir),
        "commit": subprocess.run(
            ["git", "-C", str(args.project_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1m": os.getloadavg()[0]},
        "results": [{**asdict(r), "rows_per_second": round(r.rows_per_second)} for r in results],
        "growth": exponents,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
