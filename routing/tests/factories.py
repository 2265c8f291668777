"""Routing problems as the API receives them, and stored plans."""

from __future__ import annotations

import math
from typing import Any

import factory

from routing.models import RoutePlan
from tenants.tests.factories import TenantFactory

DEPOT = {"id": "D1", "location": {"lat": 52.3702, "lon": 4.8952}}  # Amsterdam centre


def job(index: int, **fields: Any) -> dict[str, Any]:
    """A job on a ring of ~2 km around the depot, one unit, 5 minutes of service, no window."""
    angle = 2 * math.pi * index / 12
    return {
        "id": f"J{index}",
        "location": {"lat": 52.3702 + 0.018 * math.sin(angle), "lon": 4.8952 + 0.03 * math.cos(angle)},
        "demand": 1,
        "service_minutes": 5,
        **fields,
    }


def vehicle(index: int, **fields: Any) -> dict[str, Any]:
    """A vehicle at D1 for a 08:00-18:00 shift (minutes from midnight)."""
    return {
        "id": f"V{index}",
        "capacity": 10,
        "start_depot": "D1",
        "end_depot": "D1",
        "shift": {"start": 480, "end": 1080},
        **fields,
    }


def problem_payload(*, jobs: int = 6, vehicles: int = 2, **fields: Any) -> dict[str, Any]:
    """A small feasible problem: morning and afternoon windows alternate between jobs."""
    windows = [[{"start": 480, "end": 720}], [{"start": 720, "end": 1020}]]
    return {
        "depots": [DEPOT],
        "vehicles": [vehicle(k + 1) for k in range(vehicles)],
        "jobs": [job(i + 1, time_windows=windows[i % 2]) for i in range(jobs)],
        "objective": "vehicles_then_distance",
        "time_limit_seconds": 1,
        **fields,
    }


class RoutePlanFactory(factory.django.DjangoModelFactory):
    """A plan still waiting for its solve."""

    class Meta:
        model = RoutePlan

    tenant = factory.SubFactory(TenantFactory)
    request = factory.LazyFunction(lambda: {**problem_payload(), "speed_kmh": 30.0})
    job_count = factory.LazyAttribute(lambda plan: len(plan.request["jobs"]))
    vehicle_count = factory.LazyAttribute(lambda plan: len(plan.request["vehicles"]))
    time_limit_seconds = 1.0
    is_async = True
