from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.choices import SolverBackend
from routing.services import vrp_instance_solve


class Command(BaseCommand):
    help = (
        "Solve a Solomon VRPTW (.txt) or VRPLIB CVRP (.vrp) benchmark instance in the benchmark's distance "
        "convention and report cost, vehicles, feasibility (independent evaluator) and the gap to the "
        "best-known solution when a .sol file sits beside the instance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--time-limit", type=float, default=10.0, help="seconds of search (default 10)")
        parser.add_argument("--backend", choices=SolverBackend.values, default=SolverBackend.AUTO)
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object (cost, vehicles, feasible, gap_percent, routes)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if options["time_limit"] <= 0:
            raise CommandError("--time-limit: must be > 0 seconds")
        try:
            solution = vrp_instance_solve(path=path, time_limit=options["time_limit"], backend=options["backend"])
        # The VRPLIB reader raises assorted error types on malformed files; all of them mean "unreadable".
        except Exception as exc:
            raise CommandError(f"{path}: cannot read or solve this instance: {exc}") from exc

        report = {
            "instance": solution.problem_name,
            "cost": solution.total_distance,
            "vehicles": solution.vehicles_used,
            "feasible": solution.is_feasible,
            "gap_percent": solution.gap_percent,
            "best_known": solution.best_known_distance,
            "unassigned": [item.job_id for item in solution.unassigned],
            "backend": solution.stats.backend,
            "seconds": round(solution.stats.seconds, 3),
            # Job ids are the instance's customer numbers (depot 0 omitted), as in the .sol files.
            "routes": [[int(job_id) for job_id in route.job_ids] for route in solution.routes],
        }
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        gap = "n/a (no .sol beside the instance)" if report["gap_percent"] is None else f"{report['gap_percent']:.2f}%"
        self.stdout.write(f"instance     {report['instance']} ({path})")
        self.stdout.write(f"cost         {report['cost']:.1f}")
        self.stdout.write(f"vehicles     {report['vehicles']}")
        self.stdout.write(f"feasible     {'yes' if report['feasible'] else 'NO: ' + '; '.join(solution.violations)}")
        self.stdout.write(f"best known   {report['best_known'] if report['best_known'] is not None else 'n/a'}")
        self.stdout.write(f"gap          {gap}")
        self.stdout.write(f"unassigned   {len(report['unassigned'])}")
        self.stdout.write(f"backend      {report['backend']} ({report['seconds']} s)")
