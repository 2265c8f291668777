"""Liveness and readiness for load balancers, compose and Kubernetes probes.

Liveness says the process answers. Readiness says it can serve predictions: the database answers and
every tenant's champion is loaded (which also warms this worker's model cache before traffic arrives).
Redis is reported but does not fail readiness: without it predictions still work, computing features
from the database and flagging them, and taking every replica out of the load balancer would turn a
degraded service into an outage.
"""

from __future__ import annotations

import redis
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from intellilog.redis_client import get_client
from predictions.selectors import serving_model
from registry.artifacts import ArtifactError
from registry.selectors import tenants_with_champion


@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


@require_GET
def readiness(request: HttpRequest) -> JsonResponse:
    checks: dict[str, object] = {}
    ready = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as error:
        checks["database"] = f"unavailable: {error.__class__.__name__}"
        ready = False
    try:
        get_client().ping()
        checks["redis"] = "ok"
    except redis.RedisError as error:
        checks["redis"] = f"unavailable ({error.__class__.__name__}): features fall back to the database"
    if checks["database"] == "ok":
        champions: dict[str, str] = {}
        for tenant in tenants_with_champion():
            try:
                serving = serving_model(tenant=tenant)
                champions[tenant.slug] = f"v{serving.version.version} loaded" if serving else "none"
            except ArtifactError as error:
                champions[tenant.slug] = f"cannot load: {error}"
                ready = False
        checks["champions"] = champions
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)
