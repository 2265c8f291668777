"""Liveness and readiness for load balancers, compose and Kubernetes probes.

Liveness says the process answers. Readiness says it can serve predictions: the database answers and
the tenants' champions are loaded (which also warms this worker's model cache before traffic arrives).
Redis is reported but does not fail readiness: without it predictions still work, computing features
from the database and flagging them, and taking every replica out of the load balancer would turn a
degraded service into an outage.

The same holds for one tenant's model: a champion whose artifact cannot be loaded is served by its
previous champion (`predictions.selectors.serving_model`), and a tenant with nothing loadable at all is
that tenant's problem, on every replica alike (they share the artifact store): taking the replica out
would refuse every other tenant too. Each tenant's state is in ``checks.champions``; the process is
unready only when it can serve none of the tenants that have a champion (the artifact store itself
unreadable, say), where another replica may do better.

Tenant names appear only to the holder of METRICS_TOKEN or a staff session; anyone else sees counts.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from intellilog.redis_client import get_client
from monitoring.views import is_bearer_authorized
from predictions.selectors import ServingModel, serving_model
from registry.artifacts import ArtifactError
from registry.choices import Alias
from registry.selectors import tenants_with_alias


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
        is_serving_any = False
        for tenant in tenants_with_alias(Alias.CHAMPION):
            try:
                serving = serving_model(tenant=tenant)
            except ArtifactError as error:
                champions[tenant.slug] = f"cannot load: {error}"
                continue
            is_serving_any = True
            champions[tenant.slug] = _champion_state(serving)
        checks["champions"] = champions if _may_see_tenants(request) else _champion_counts(champions)
        if champions and not is_serving_any:
            ready = False
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)


def _may_see_tenants(request: HttpRequest) -> bool:
    """Tenant names and their models' states are for operators: the metrics token's holder or staff."""
    token = settings.METRICS_TOKEN
    if token and is_bearer_authorized(request, token):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def _champion_counts(champions: dict[str, str]) -> dict[str, int]:
    """What anyone may see: how many tenants' champions load, and how many do not, without naming them."""
    not_loadable = sum(state.startswith("cannot load") for state in champions.values())
    return {"loaded": len(champions) - not_loadable, "cannot_load": not_loadable}


def _champion_state(serving: ServingModel | None) -> str:
    if serving is None:  # the alias went away since the tenant was listed
        return "none"
    if serving.replaces is not None:
        return (
            f"v{serving.version.version} loaded in place of the champion v{serving.replaces.version}, "
            f"which cannot load: {serving.replaced_because}"
        )
    return f"v{serving.version.version} loaded"
