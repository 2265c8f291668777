"""IntelliLog's vehicle-routing core: plain Python, no Django.

Build a ``Problem`` (``problem_from_dict`` for JSON-like input, ``load_instance`` for benchmark files),
call ``solve``, and read the ``Solution`` (``as_dict()`` for JSON). See ``engine`` for how the backend
(PyVRP or OR-Tools) is chosen, ``scaling`` for the integer conversion, ``evaluator`` for the independent
feasibility check and ``unassigned`` for the reasons given for jobs left out.
"""

from __future__ import annotations

from routing.solver.engine import choose_backend, solve
from routing.solver.evaluator import Evaluation, PlannedRoute, evaluate
from routing.solver.instances import gap_percent, load_instance
from routing.solver.problem import Depot, Job, Objective, Problem, TimeWindow, Vehicle, problem_from_dict
from routing.solver.result import RoutePlan, Solution, SolverStats, Stop, UnassignedJob, UnassignedReason
from routing.solver.travel import (
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
