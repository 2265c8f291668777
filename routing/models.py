"""Route plans: one optimisation request of a tenant, its status, the stored request and the solver's result."""

from __future__ import annotations

from django.db import models

from routing.choices import RoutePlanStatus
from tenants.models import TenantOwned


class RoutePlan(TenantOwned):
    """A tenant's routing problem and, once solved, its plan.

    `request` is the validated problem as the API received it (so a plan can be reproduced); `result` is
    `core.solver.Solution.as_dict()` once solved: routes with per-stop schedule and load, totals,
    unassigned jobs with reasons, solver statistics and the travel-time source. A failed solve keeps
    its `error`. Timings: `created_at` (accepted), `started_at`/`finished_at` (the solve itself).
    """

    status = models.CharField(max_length=16, choices=RoutePlanStatus.choices, default=RoutePlanStatus.QUEUED)
    request = models.JSONField()
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Copied out of `request` so that lists and the admin need not load the whole problem.
    job_count = models.PositiveIntegerField()
    vehicle_count = models.PositiveIntegerField()
    time_limit_seconds = models.FloatField()
    is_async = models.BooleanField(help_text="solved by a Celery worker rather than inside the request")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="route_plan_tenant_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status=RoutePlanStatus.SOLVED) | models.Q(result__isnull=False),
                name="route_plan_solved_has_result",
            )
        ]

    def __str__(self) -> str:
        return f"route plan #{self.pk} ({self.status}, {self.job_count} jobs)"

    @property
    def is_finished(self) -> bool:
        return self.status in (RoutePlanStatus.SOLVED, RoutePlanStatus.FAILED)

    @property
    def solve_seconds(self) -> float | None:
        """Wall-clock seconds of the solve (problem building, search, checking), once finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
