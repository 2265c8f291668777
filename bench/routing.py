"""Routing benchmark: gap to best-known distance on Solomon VRPTW and CVRPLIB X instances.

For every instance under ``../shared/data/vrp`` (or ``--data-dir``) and every backend asked for
(``auto`` = our ``solve`` choosing per problem, ``ortools`` = plain OR-Tools guided local search,
``pyvrp``), with the same time limit in the same run, it records distance, vehicles, gap to the
best-known distance, and the evaluator's verdict. A solution counts as feasible only if the independent
evaluator finds no violation and no job is left out. Prints per-instance lines and a per-class table
(Solomon C1/C2/R1/R2/RC1/RC2, X) and writes JSON (rewritten after every instance, so an interrupted run
keeps its figures).

    .venv/bin/python bench/routing.py                       # everything, 10 s per instance and backend
    .venv/bin/python bench/routing.py --time-limit 2 --filter 'C1|X-n1[01]' --backends auto

Run one benchmark at a time: the solvers are single-threaded and timings assume an otherwise idle core.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named routing.py: put the repository root first so ``routing`` is the Django app package.
sys.path.insert(0, str(ROOT))

from core.solver import gap_percent, load_instance, solve  # noqa: E402
from core.solver.instances import benchmark_class  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vrp"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "routing.json"
BACKENDS = ("auto", "ortools", "pyvrp")
TARGETS = {"Solomon": 1.0, "X": 1.5}
"""Mean gap goals in percent at 10 s per instance."""


@dataclass(frozen=True)
class Run:
    """One instance solved by one backend."""

    instance: str
    instance_class: str
    requested_backend: str
    backend: str
    time_limit: float
    seconds: float
    distance: float
    vehicles: int
    best_known_distance: float
    best_known_vehicles: int | None
    gap_percent: float
    feasible: bool
    unassigned: int
    violations: list[str]
    status: str


def _best_known_vehicles(data_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, column in (("bks_solomon.csv", "dimacs_vehicles"), ("bks_cvrp_x.csv", "bks_routes")):
        path = data_dir / name
        if path.exists():
            with path.open() as handle:
                counts.update({row["instance"]: int(row[column]) for row in csv.DictReader(handle)})
    return counts


def _instances(data_dir: Path, pattern: str | None) -> list[Path]:
    paths = sorted((data_dir / "solomon").glob("*.txt")) + sorted((data_dir / "cvrp_x").glob("*.vrp"))
    if pattern:
        paths = [p for p in paths if re.search(pattern, p.stem)]
    return paths


def _group(instance_class: str) -> str:
    return "X" if instance_class == "X" else "Solomon"


def summarise(runs: list[Run]) -> list[dict[str, object]]:
    """Per backend and class (and per Solomon / X group): mean and max gap, vehicles, feasibility."""
    rows: list[dict[str, object]] = []
    keys = sorted({(r.requested_backend, r.instance_class) for r in runs})
    # A group that is a class already (X) is not listed twice.
    keys += sorted({(r.requested_backend, _group(r.instance_class)) for r in runs} - set(keys))
    for backend, label in keys:
        chosen = [
            r for r in runs if r.requested_backend == backend and label in (r.instance_class, _group(r.instance_class))
        ]
        known = [r for r in chosen if r.best_known_vehicles is not None]
        rows.append(
            {
                "backend": backend,
                "class": label,
                "instances": len(chosen),
                "mean_gap_percent": statistics.fmean(r.gap_percent for r in chosen),
                "max_gap_percent": max(r.gap_percent for r in chosen),
                "mean_vehicles": statistics.fmean(r.vehicles for r in chosen),
                "mean_vehicles_over_best_known": (
                    statistics.fmean(r.vehicles - (r.best_known_vehicles or 0) for r in known) if known else None
                ),
                "feasible": sum(r.feasible for r in chosen),
                "target_mean_gap_percent": TARGETS.get(label),
            }
        )
    return rows


def _print_table(rows: list[dict[str, object]], time_limit: float) -> None:
    print(f"\nper class, {time_limit:g} s per instance and backend")
    print(
        f"{'backend':8} {'class':8} {'n':>3} {'mean gap%':>9} {'max gap%':>8} {'veh':>6} {'veh-bks':>7} {'feasible':>9}"
    )
    for row in rows:
        over = row["mean_vehicles_over_best_known"]
        target = row["target_mean_gap_percent"]
        mark = "" if target is None else ("  <= target" if row["mean_gap_percent"] <= target else "  ABOVE target")
        print(
            f"{row['backend']:8} {row['class']:8} {row['instances']:>3} {row['mean_gap_percent']:>9.2f} "
            f"{row['max_gap_percent']:>8.2f} {row['mean_vehicles']:>6.1f} "
            f"{'' if over is None else f'{over:+.2f}':>7} {row['feasible']:>4}/{row['instances']:<4}{mark}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any solution is infeasible."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance and backend")
    parser.add_argument("--filter", help="regular expression on instance names, e.g. 'R1|X-n1'")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: auto,ortools,pyvrp")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; choose from {BACKENDS}")
    paths = _instances(args.data_dir, args.filter)
    if not paths:
        parser.error(f"no instances under {args.data_dir} match")
    vehicles_known = _best_known_vehicles(args.data_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    runs: list[Run] = []
    started = time.time()
    for path in paths:
        problem = load_instance(path)
        if problem.best_known_distance is None:
            print(f"{problem.name}: no .sol beside it, skipped")
            continue
        for backend in backends:
            solution = solve(problem, time_limit=args.time_limit, backend=backend)
            # Benchmark costs have at most one decimal: drop float noise from summing them.
            distance = round(solution.total_distance, 6)
            run = Run(
                instance=problem.name,
                instance_class=benchmark_class(problem.name),
                requested_backend=backend,
                backend=solution.stats.backend,
                time_limit=args.time_limit,
                seconds=round(solution.stats.seconds, 2),
                distance=distance,
                vehicles=solution.vehicles_used,
                best_known_distance=problem.best_known_distance,
                best_known_vehicles=vehicles_known.get(problem.name),
                gap_percent=round(gap_percent(distance, problem.best_known_distance), 4),
                feasible=solution.is_feasible and not solution.unassigned,
                unassigned=len(solution.unassigned),
                violations=solution.violations,
                status=solution.stats.status,
            )
            runs.append(run)
            print(
                f"{run.instance:12} {backend:8} ({run.backend:7}) dist {run.distance:>10.1f} "
                f"bks {run.best_known_distance:>10.1f} gap {run.gap_percent:>6.2f}% veh {run.vehicles:>3} "
                f"(bks {run.best_known_vehicles}) {'feasible' if run.feasible else 'INFEASIBLE'} {run.seconds:.1f}s",
                flush=True,
            )
        summary = summarise(runs)
        report = {
            "time_limit_s": args.time_limit,
            "backends": backends,
            "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
            "elapsed_s": round(time.time() - started, 1),
            "summary": summary,
            "runs": [asdict(r) for r in runs],
        }
        args.output.write_text(json.dumps(report, indent=2))

    _print_table(summarise(runs), args.time_limit)
    print(f"\nwrote {args.output}")
    return 0 if all(r.feasible for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
