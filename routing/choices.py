"""Enumerations of the routing app."""

from __future__ import annotations

from django.db import models

from core.solver import Objective


class RoutePlanStatus(models.TextChoices):
    """Where a route plan is in its life: queued -> solving -> solved | failed."""

    QUEUED = "queued", "Queued"
    SOLVING = "solving", "Solving"
    SOLVED = "solved", "Solved"
    FAILED = "failed", "Failed"


class RouteObjective(models.TextChoices):
    """What the solver minimises; the values are `core.solver.Objective`'s."""

    VEHICLES_THEN_DISTANCE = Objective.VEHICLES_THEN_DISTANCE.value, "Fewest vehicles, then distance"
    DISTANCE = Objective.DISTANCE.value, "Total distance"


class SolverBackend(models.TextChoices):
    """Which solver `solve_vrp` runs; `auto` lets `core.solver.choose_backend` decide per problem."""

    AUTO = "auto", "Automatic"
    ORTOOLS = "ortools", "OR-Tools"
    PYVRP = "pyvrp", "PyVRP"


class TravelTimeSource(models.TextChoices):
    """Where a plan's travel times come from; `auto` uses the tenant's champion ETA model when it has one."""

    AUTO = "auto", "ETA model when available, else haversine"
    ETA_MODEL = "eta_model", "The tenant's champion ETA model"
    HAVERSINE = "haversine", "Straight-line distance at speed_kmh"
