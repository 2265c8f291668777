"""IntelliLog's vehicle-routing core: plain Python, no Django.

Build a ``Problem`` (``problem_from_dict`` for JSON-like input, ``load_instance`` for benchmark files),
call ``solve``, and read the ``Solution`` (``as_dict()`` for JSON). See ``engine`` for how the backend
(PyVRP or OR-Tools) is chosen, ``scaling`` for the integer conversion, ``evaluator`` for the independent
feasibility check and ``unassigned`` for the reasons given for jobs left out.

Typical use from the Django side::

    problem = problem_from_dict(payload, travel_provider=eta_minutes, departure_bucket=8)
    solution = solve(problem, time_limit=10.0)           # backend="auto" | "pyvrp" | "ortools"
    body = solution.as_dict()                            # routes, totals, unassigned + reasons, stats

    problem = load_instance("shared/data/vrp/solomon/C101.txt")   # benchmark file, distance-only
    solution = solve(problem, time_limit=10.0)
    solution.total_distance, solution.vehicles_used, solution.is_feasible, solution.gap_percent
    [route.job_ids for route in solution.routes]          # customer numbers as in the .sol files
"""

from __future__ import annotations

from core.solver.engine import choose_backend, solve
from core.solver.evaluator import Evaluation, PlannedRoute, evaluate
from core.solver.instances import gap_percent, load_instance
from core.solver.problem import Depot, Job, Objective, Problem, TimeWindow, Vehicle, problem_from_dict
from core.solver.result import RoutePlan, Solution, SolverStats, Stop, UnassignedJob, UnassignedReason
from core.solver.travel import (
    HaversineTravelTimes,
    Point,
    SpeedProfile,
    TravelMatrices,
    TravelTimeProvider,
    build_travel_matrices,
)

__all__ = [
    "Depot",
    "Evaluation",
    "HaversineTravelTimes",
    "Job",
    "Objective",
    "PlannedRoute",
    "Point",
    "Problem",
    "RoutePlan",
    "Solution",
    "SolverStats",
    "SpeedProfile",
    "Stop",
    "TimeWindow",
    "TravelMatrices",
    "TravelTimeProvider",
    "UnassignedJob",
    "UnassignedReason",
    "Vehicle",
    "build_travel_matrices",
    "choose_backend",
    "evaluate",
    "gap_percent",
    "load_instance",
    "problem_from_dict",
    "solve",
]
