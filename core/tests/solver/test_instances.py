"""Benchmark instances: reading, the distance convention, and a short solve against best-known."""

from __future__ import annotations

from pathlib import Path

import pytest
import vrplib

from core.solver import PlannedRoute, evaluate, gap_percent, load_instance, solve
from core.solver.instances import benchmark_class

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "vrp"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark data not found at {DATA}")


def _best_known_plan(path: Path) -> list[PlannedRoute]:
    routes = vrplib.read_solution(str(path.with_suffix(".sol")))["routes"]
    return [PlannedRoute(f"v{k + 1}", tuple(str(c) for c in route)) for k, route in enumerate(routes)]


def test_reads_solomon_c101_in_the_dimacs_convention():
    problem = load_instance(DATA / "solomon" / "C101.txt")

    assert (problem.name, len(problem.jobs), len(problem.vehicles)) == ("C101", 100, 25)
    assert problem.vehicles[0].capacity == 200
    assert problem.best_known_distance == 827.3
    # Depot (40, 50) to customer 1 (45, 68): sqrt(349) = 18.68... truncated to 18.6.
    assert problem.travel.distance[0, 1] == 18.6
    assert benchmark_class(problem.name) == "C1"


@pytest.mark.parametrize("name", ["solomon/C101.txt", "solomon/R101.txt", "solomon/R208.txt", "cvrp_x/X-n101-k25.vrp"])
def test_best_known_solutions_are_feasible_and_cost_what_they_claim(name):
    path = DATA / name
    problem = load_instance(path)

    result = evaluate(problem, _best_known_plan(path))

    assert result.is_feasible, result.violations
    assert len(result.served_job_ids) == len(problem.jobs)
    assert result.total_distance == pytest.approx(problem.best_known_distance, abs=1e-6)


def test_solves_solomon_r101_close_to_best_known():
    problem = load_instance(DATA / "solomon" / "R101.txt")

    solution = solve(problem, time_limit=3)

    assert solution.is_feasible and solution.unassigned == []
    assert solution.stats.backend == "pyvrp"
    assert -1e-6 < solution.gap_percent < 2.0


def test_solves_the_smallest_x_instance_close_to_best_known():
    problem = load_instance(DATA / "cvrp_x" / "X-n101-k25.vrp")

    solution = solve(problem, time_limit=3)

    assert solution.is_feasible and solution.unassigned == []
    assert benchmark_class(problem.name) == "X"
    assert 0 <= gap_percent(solution.total_distance, 27591) < 3.0
