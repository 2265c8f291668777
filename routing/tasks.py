"""Celery tasks of the routing app."""

from __future__ import annotations

from celery import shared_task

from routing.services import route_plan_solve


@shared_task
def route_plan_solve_task(plan_id: int) -> str:
    """Solve a queued route plan; a second run for a finished plan changes nothing."""
    return route_plan_solve(plan_id=plan_id).status
