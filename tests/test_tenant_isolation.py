"""The tenant-isolation matrix: every API endpoint x every HTTP method, tenant A's key against tenant B's objects.

Tenant B owns one of everything the API can address (deliveries and their import batch, model versions in
every status, registry events, a route plan, a prediction with its audit row and reported outcome, and
materialised features in Redis); tenant A owns a few objects of its own and a champion, so that a list
that comes back "empty of B" is proof of the tenant filter rather than of an empty table. For each
endpoint of the URL resolver and each method, A's request must:

- for an object of B's: be answered exactly as for an object that never existed (404 when the method is
  allowed, 405 when not: never 200 or 403, which would reveal that B's object exists);
- for a list: show exactly A's rows, even when asked for B's through query parameters;
- for a create (predictions, routes): create A's row, computed from A's data only (A's champion, A's
  features: never B's online store, never B's idempotency keys);
- and leave every row of B's, in every table, and B's Redis feature states, exactly as they were.

`test_every_endpoint_is_covered` derives the endpoint list from the URL resolver and the OpenAPI schema,
so a new endpoint fails the suite until it is added to `PROBES` here or listed as tenant-less.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, resolve

METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
API_PREFIX = "/api/v1/"
ETA = "/api/v1/predictions/eta"


class Kind(Enum):
    """How an endpoint relates to tenant-owned objects, which decides what A's request must get."""

    DETAIL = "detail"  # addresses one object by id: B's id must look like a missing id
    COLLECTION = "collection"  # lists the caller's objects: exactly A's
    CREATE = "create"  # creates the caller's objects: A's, from A's data only
    SINGLETON = "singleton"  # the caller's one thing (the serving model): A's


@dataclass(frozen=True)
class Probe:
    """One URL name of the resolver: its path with B's object (``{b}``) and what it lists or creates."""

    path: str
    kind: Kind
    # For DETAIL: which of B's objects to address, and an id that never existed.
    target: str = ""
    # For COLLECTION: the response field that identifies a row, and which of A's objects it must show.
    row_key: str = ""


# Every URL name under /api/v1, and how tenant A probes tenant B through it.
PROBES: dict[str, Probe] = {
    "delivery-list": Probe("/api/v1/deliveries", Kind.COLLECTION, row_key="order_id"),
    "delivery-detail": Probe("/api/v1/deliveries/{b}", Kind.DETAIL, target="order_id"),
    "delivery-outcome": Probe("/api/v1/deliveries/{b}/outcome", Kind.DETAIL, target="predicted_order_id"),
    "delivery-outcomes": Probe("/api/v1/deliveries/outcomes", Kind.CREATE),
    "import-batch-list": Probe("/api/v1/import-batches", Kind.COLLECTION, row_key="id"),
    "import-batch-detail": Probe("/api/v1/import-batches/{b}", Kind.DETAIL, target="import_batch_id"),
    "model-version-list": Probe("/api/v1/models/versions", Kind.COLLECTION, row_key="version"),
    "model-version-detail": Probe("/api/v1/models/versions/{b}", Kind.DETAIL, target="version"),
    "model-version-lineage": Probe("/api/v1/models/versions/{b}/lineage", Kind.DETAIL, target="version"),
    "registry-event-list": Probe("/api/v1/models/events", Kind.COLLECTION, row_key="id"),
    "registry-event-detail": Probe("/api/v1/models/events/{b}", Kind.DETAIL, target="event_id"),
    "route-plan-list": Probe("/api/v1/routes", Kind.COLLECTION, row_key="id"),
    "route-plan-detail": Probe("/api/v1/routes/{b}", Kind.DETAIL, target="route_plan_id"),
    "route-plan-optimize": Probe("/api/v1/routes/optimize", Kind.CREATE),
    "prediction-eta": Probe("/api/v1/predictions/eta", Kind.CREATE),
    "prediction-eta-batch": Probe("/api/v1/predictions/eta/batch", Kind.CREATE),
    "model-info": Probe("/api/v1/models/info", Kind.SINGLETON),
    "shadow-evaluation-list": Probe("/api/v1/models/shadow-evaluations", Kind.COLLECTION, row_key="id"),
    "shadow-evaluation-detail": Probe("/api/v1/models/shadow-evaluations/{b}", Kind.DETAIL, target="shadow_id"),
    "drift-report-list": Probe("/api/v1/monitoring/drift-reports", Kind.COLLECTION, row_key="id"),
    "drift-report-detail": Probe("/api/v1/monitoring/drift-reports/{b}", Kind.DETAIL, target="drift_id"),
    "accuracy-report-list": Probe("/api/v1/monitoring/accuracy-reports", Kind.COLLECTION, row_key="id"),
    "accuracy-report-detail": Probe("/api/v1/monitoring/accuracy-reports/{b}", Kind.DETAIL, target="accuracy_id"),
    "alert-list": Probe("/api/v1/monitoring/alerts", Kind.COLLECTION, row_key="id"),
    "alert-detail": Probe("/api/v1/monitoring/alerts/{b}", Kind.DETAIL, target="alert_id"),
}

# URL names that serve no tenant-owned data, and why; anything else must be in PROBES.
TENANTLESS: dict[str, str] = {
    "schema": "the OpenAPI document: the same for every caller",
    "api-docs": "the Swagger page of that document",
    "metrics": "Prometheus scrape (aggregate counters, optional bearer token; tests/test_metrics.py)",
    "health-live": "liveness probe",
    "health-ready": "readiness probe (tenant slugs of champions only; no key, private network)",
    "landing": "links; tenant slugs and versions only to staff or with DEBUG (tests/test_front_door.py)",
}
# The admin is staff-only behind a login (tests/test_security.py), shows all tenants by design.
TENANTLESS_NAMESPACES = {"admin"}


# ----- coverage: the resolver and the schema against the table above -----


def _url_names(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, str]]:
    """(namespace, url name, route prefix) for every named URL pattern, walking includes."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _url_names(pattern.url_patterns, route, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern.name or f"<unnamed {route}>", route


def _schema_operations() -> dict[str, set[str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {path: {method.upper() for method in operations} for path, operations in schema["paths"].items()}


def _url_name_of(template: str) -> str:
    return resolve(re.sub(r"\{[^}]+\}", "1", template)).url_name


def test_every_endpoint_is_covered() -> None:
    """A URL pattern or schema operation that is neither probed nor declared tenant-less fails here."""
    resolver_names = {
        name for namespace, name, _ in _url_names(get_resolver().url_patterns) if namespace not in TENANTLESS_NAMESPACES
    }
    uncovered = resolver_names - set(PROBES) - set(TENANTLESS)
    assert not uncovered, f"URL names with no isolation probe and not listed as tenant-less: {sorted(uncovered)}"
    stale = (set(PROBES) | set(TENANTLESS)) - resolver_names
    assert not stale, f"probes for URL names that no longer exist: {sorted(stale)}"

    schema_names = {_url_name_of(path): path for path in _schema_operations()}
    assert set(schema_names) <= set(PROBES), sorted(set(schema_names) - set(PROBES))
    for name, probe in PROBES.items():
        assert name in schema_names, f"{name} is routed but missing from the OpenAPI schema"
        template = re.sub(r"\{[^}]+\}", "{b}", schema_names[name])
        assert template == probe.path, f"{name}: the schema says {schema_names[name]}, the probe uses {probe.path}"


# ----- the two tenants -----


@dataclass
class World:
    """Tenant A (the caller), tenant B (the target), and B's addressable objects by probe target."""

    a: Any  # conftest.TenantClient
    b: Any
    b_targets: dict[str, str]
    missing_targets: dict[str, str]
    a_version: Any
    b_version: Any
    b_courier: str
    # B's two keyed predictions: (Idempotency-Key, body) each.
    b_keyed: list[tuple[str, dict[str, Any]]]
    a_rows: dict[str, Callable[[], set[str]]] = field(default_factory=dict)


def _recent_order(history_row: Any, **overrides: Any) -> dict[str, Any]:
    """An order two hours after a delivery of the history, by its courier: served from the online store."""
    from predictions.tests.test_api import order_body

    ordered_at = history_row.ordered_at + dt.timedelta(hours=2)
    return order_body(
        driver_id=history_row.courier_id,
        ordered_at=ordered_at.isoformat(),
        picked_at=(ordered_at + dt.timedelta(minutes=10)).isoformat(),
        **overrides,
    )


def _champion_for(client: Any, artifact: bytes, *, version: int, created_by: str) -> Any:
    from predictions.selectors import serving_cache_clear
    from registry.artifacts import artifact_write
    from registry.services import promotion_request_approve, promotion_request_create
    from registry.tests.factories import ModelVersionFactory, UserFactory, approver

    relative_path, sha256 = artifact_write(relative_dir=f"{client.tenant.slug}/eta", data=artifact)
    model_version = ModelVersionFactory(
        registered_model__tenant=client.tenant,
        version=version,
        artifact_path=relative_path,
        artifact_sha256=sha256,
        created_by=created_by,
        lineage={"feature_set": {"name": "eta_order_features", "version": 1}, "owner": created_by},
    )
    request = promotion_request_create(version=model_version, user=UserFactory(), reason="isolation matrix")
    promotion_request_approve(request=request, user=approver(), comment="ok")
    serving_cache_clear()
    return model_version


def _monitored_models() -> dict[str, type[models.Model]]:
    from monitoring.models import AccuracyReport, Alert, DriftReport
    from registry.models import ShadowEvaluation

    return {"shadow_id": ShadowEvaluation, "drift_id": DriftReport, "accuracy_id": AccuracyReport, "alert_id": Alert}


def _own_ids(model: type[models.Model], tenant: Any) -> Callable[[], set[str]]:
    return lambda: {str(pk) for pk in model.objects.filter(tenant=tenant).values_list("pk", flat=True)}


def _monitoring_of(champion: Any, challenger: Any) -> dict[str, Any]:
    """A drift report, an accuracy report, an alert and a shadow look of a tenant's versions, by probe target."""
    from monitoring.tests.factories import AccuracyReportFactory, DriftReportFactory, raise_example
    from registry.tests.factories import ShadowEvaluationFactory

    return {
        "shadow_id": ShadowEvaluationFactory(champion=champion, challenger=challenger),
        "drift_id": DriftReportFactory(model_version=champion),
        "accuracy_id": AccuracyReportFactory(model_version=champion),
        "alert_id": raise_example(tenant=champion.tenant, subject=f"{champion} feature distance_km"),
    }


@pytest.fixture
def world(serving_tenant, make_tenant_client, trained_model) -> World:  # type: ignore[no-untyped-def]
    from deliveries.models import Delivery, ImportBatch
    from deliveries.tests.factories import DeliveryFactory
    from registry.choices import VersionStatus
    from registry.models import ModelVersion, RegistryEvent
    from registry.tests.factories import ModelVersionFactory
    from routing.models import RoutePlan
    from routing.tests.factories import RoutePlanFactory

    b = serving_tenant.client
    b_tenant = b.tenant
    call_command("materialize_features", tenant=b_tenant.slug)
    latest = Delivery.objects.filter(tenant=b_tenant).order_by("-ordered_at").first()
    b_keyed = [
        ("b-key-1", _recent_order(latest, order_id="b-secret-order")),
        ("b-key-2", _recent_order(latest, order_id="b-secret-order-2")),
    ]
    for key, body in b_keyed:
        predicted = b.post(ETA, json=body, headers={"Idempotency-Key": key})
        assert predicted.status_code == 200, predicted.text
        # B's predictions came from B's online store: the check below that A's do not is meaningful.
        assert "online_store" in {f["source"] for f in predicted.json()["feature_freshness"].values()}
    outcome = b.post("/api/v1/deliveries/b-secret-order/outcome", json={"delivery_minutes": 31.5})
    assert outcome.status_code == 201, outcome.text
    b_model = serving_tenant.version.registered_model
    ModelVersionFactory(registered_model=b_model, version=901, status=VersionStatus.PENDING, created_by="b")
    ModelVersionFactory(registered_model=b_model, version=902, status=VersionStatus.FAILED, created_by="b")
    b_plan = RoutePlanFactory(tenant=b_tenant)
    b_monitoring = _monitoring_of(serving_tenant.version, b_model.versions.get(version=901))

    a = make_tenant_client()
    # A's champion is version 1 of A's model; B's version numbers 901/902 exist only in B.
    a_version = _champion_for(a, trained_model.artifact, version=1, created_by="tenant-a")
    DeliveryFactory(tenant=a.tenant, external_order_id="a-own-order", courier_id="a-only-courier")
    RoutePlanFactory(tenant=a.tenant)
    a_challenger = ModelVersionFactory(registered_model=a_version.registered_model, version=2, created_by="tenant-a")
    _monitoring_of(a_version, a_challenger)

    max_batch = ImportBatch.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    max_event = RegistryEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    max_plan = RoutePlan.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    monitored = _monitored_models()
    missing_monitoring = {
        name: str(model.objects.order_by("-pk").first().pk + 10_000) for name, model in monitored.items()
    }
    a_tenant = a.tenant
    return World(
        a=a,
        b=b,
        b_targets={
            "order_id": latest.external_order_id,
            "predicted_order_id": "b-secret-order",
            "import_batch_id": str(latest.import_batch_id),
            "version": "901",
            "event_id": str(RegistryEvent.objects.filter(tenant=b_tenant).first().pk),
            "route_plan_id": str(b_plan.pk),
            **{name: str(row.pk) for name, row in b_monitoring.items()},
        },
        missing_targets={
            "order_id": "no-such-order",
            "predicted_order_id": "no-such-order",
            "import_batch_id": str(max_batch + 10_000),
            "version": "999999",
            "event_id": str(max_event + 10_000),
            "route_plan_id": str(max_plan + 10_000),
            **missing_monitoring,
        },
        a_version=a_version,
        b_version=serving_tenant.version,
        b_courier=latest.courier_id,
        b_keyed=b_keyed,
        a_rows={
            "delivery-list": lambda: set(
                Delivery.objects.filter(tenant=a_tenant).values_list("external_order_id", flat=True)
            ),
            "import-batch-list": lambda: {
                str(pk) for pk in ImportBatch.objects.filter(tenant=a_tenant).values_list("pk", flat=True)
            },
            "model-version-list": lambda: {
                str(number) for number in ModelVersion.objects.filter(tenant=a_tenant).values_list("version", flat=True)
            },
            "registry-event-list": lambda: {
                str(pk) for pk in RegistryEvent.objects.filter(tenant=a_tenant).values_list("pk", flat=True)
            },
            "route-plan-list": lambda: {
                str(pk) for pk in RoutePlan.objects.filter(tenant=a_tenant).values_list("pk", flat=True)
            },
            **{
                f"{probe_name}-list": _own_ids(monitored[target], a_tenant)
                for probe_name, target in (
                    ("shadow-evaluation", "shadow_id"),
                    ("drift-report", "drift_id"),
                    ("accuracy-report", "accuracy_id"),
                    ("alert", "alert_id"),
                )
            },
        },
    )


# ----- B's state, to prove that nothing of it changed -----


def _digest(rows: Any) -> str:
    return hashlib.sha256(json.dumps(list(rows), default=str, sort_keys=True).encode()).hexdigest()


def _project_models() -> list[type[models.Model]]:
    project_apps = {"tenants", "deliveries", "registry", "features", "predictions", "routing", "monitoring"}
    return [model for model in apps.get_models() if model._meta.app_label in project_apps]


def b_state(tenant: Any) -> dict[str, str]:
    """A digest per table of every row of B's (tables without a tenant column: the whole table), and of
    B's feature states in Redis."""
    import redis
    from django.conf import settings

    from features.services import store_namespace

    state: dict[str, str] = {}
    for model in _project_models():
        names = {f.name for f in model._meta.get_fields()}
        if model._meta.label == "tenants.Tenant":
            rows = model.objects.filter(pk=tenant.pk)
        elif "tenant" in names:
            rows = model.objects.filter(tenant=tenant)
        else:
            rows = model.objects.all()
        state[model._meta.label] = _digest(rows.order_by("pk").values())
    namespace = store_namespace(tenant=tenant)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = sorted(client.scan_iter(match=f"{namespace.prefix}:{tenant.pk}:*", count=1000))
        state["redis:features"] = _digest((key.decode(), client.get(key).decode()) for key in keys)
        assert keys, "B's features were materialised: the Redis digest must not be of nothing"
    finally:
        client.close()
    return state


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


# ----- the matrix -----


def _write_body(name: str, world: World) -> Any:
    """A body a writer would plausibly send: valid for the endpoint where it has one, naming B."""
    if name == "delivery-outcome":
        return {"delivery_minutes": 31.5}
    return {"tenant": world.b.tenant.pk, "status": "ready", "delivery_minutes": 1, "name": "pwned"}


def _normalised(response: Any, target: str) -> tuple[int, str]:
    """Status and body with the addressed id and the request id masked, to compare B's with a missing one."""
    text = response.text.replace(target, "{id}")
    text = re.sub(r'"request_id":\s*"[^"]*"', '"request_id": "*"', text)
    return response.status_code, text


def _expected_status(probe: Probe, method: str, allowed: set[str]) -> set[int]:
    is_allowed = method in allowed or (method == "HEAD" and "GET" in allowed) or method == "OPTIONS"
    if not is_allowed:
        return {405}
    if method == "OPTIONS":
        return {200}
    if probe.kind is Kind.DETAIL:
        return {404}
    if probe.kind is Kind.CREATE:
        return {200, 201}
    return {200}


pytestmark = pytest.mark.django_db(transaction=True)


def test_tenant_a_cannot_see_or_change_anything_of_tenant_b(world: World) -> None:
    """Every endpoint x method, A's key: B's objects look missing, lists are A's, writes touch only A."""
    from predictions.models import PredictionAudit
    from routing.models import RoutePlan

    operations = {_url_name_of(path): methods for path, methods in _schema_operations().items()}
    failures: list[str] = []
    requests_made = 0
    for name, probe in PROBES.items():
        allowed = operations[name]
        before = b_state(world.b.tenant)
        for method in METHODS:
            expected = _expected_status(probe, method, allowed)
            body = _write_body(name, world) if method in ("POST", "PUT", "PATCH") else None
            if probe.kind is Kind.DETAIL:
                target = world.b_targets[probe.target]
                missing = world.missing_targets[probe.target]
                to_b = world.a.request(method, probe.path.format(b=target), json=body)
                to_missing = world.a.request(method, probe.path.format(b=missing), json=body)
                requests_made += 2
                if to_b.status_code not in expected:
                    failures.append(f"{method} {name} on B's {target}: {to_b.status_code} {to_b.text[:200]}")
                if _normalised(to_b, target) != _normalised(to_missing, missing):
                    failures.append(
                        f"{method} {name}: B's object answered differently from a missing one: "
                        f"{_normalised(to_b, target)} vs {_normalised(to_missing, missing)}"
                    )
                continue
            if probe.kind is Kind.CREATE and method == "POST":
                continue  # the create checks below, with real bodies
            response = world.a.request(method, probe.path, json=body)
            requests_made += 1
            if response.status_code not in expected:
                failures.append(f"{method} {name}: {response.status_code} {response.text[:200]}")
            if probe.kind is Kind.COLLECTION and method == "GET":
                for query in ("?limit=1000", f"?limit=1000&tenant={world.b.tenant.pk}&tenant_id={world.b.tenant.pk}"):
                    listed = world.a.get(probe.path + query).json()["results"]
                    requests_made += 1
                    shown = {str(row[probe.row_key]) for row in listed}
                    own = world.a_rows[name]()
                    if shown != own or not own:
                        foreign = sorted(shown - own)
                        failures.append(
                            f"GET {name}{query}: shows {len(foreign)} rows A does not own ({foreign[:5]}...), "
                            f"hides {sorted(own - shown)} of A's"
                        )
        after = b_state(world.b.tenant)
        if _changed(before, after):
            failures.append(f"{name}: B's state changed in {_changed(before, after)}")

    # Creates: each makes A's object, computed from A's data, and leaves B exactly as it was.
    before = b_state(world.b.tenant)
    b_audits = set(PredictionAudit.objects.filter(tenant=world.b.tenant).values_list("pk", flat=True))

    # B's idempotency keys mean nothing to A: under B's first key with another body, no 409 (which would
    # tell A that B used the key); under B's second key with B's very body, not B's stored answer but a
    # new prediction of A's, from A's model, with B's courier unknown to A's features.
    (key_1, body_1), (key_2, body_2) = world.b_keyed
    other_body = world.a.post(ETA, json={**body_1, "order_id": "a-other"}, headers={"Idempotency-Key": key_1})
    same = world.a.post(ETA, json=body_2, headers={"Idempotency-Key": key_2})
    batch = world.a.post(f"{ETA}/batch", json={"orders": [{**body_1, "order_id": "a-batch-1"}]})
    requests_made += 3
    for response in (other_body, same, batch):
        assert response.status_code == 200, response.text
        assert "Idempotent-Replayed" not in response.headers
    served = [other_body.json(), same.json(), *batch.json()["predictions"]]
    for prediction in served:
        audit = PredictionAudit.objects.get(pk=prediction["audit_id"])
        if audit.tenant_id != world.a.tenant.pk or audit.model_version_id != world.a_version.pk:
            failures.append(f"A's prediction {prediction['audit_id']} was served or stored as B's")
        if prediction["audit_id"] in {str(pk) for pk in b_audits}:
            failures.append("A got B's stored prediction back")
        sources = {f["source"] for f in prediction["feature_freshness"].values()}
        if "online_store" in sources:
            failures.append(f"A's prediction read an online store A never materialised (B's?): {sources}")
        courier = prediction["feature_freshness"]["courier_completed_count"]
        if (courier["status"], courier["source"]) != ("missing", "database"):
            failures.append(f"B's courier's history reached A's features: {courier}")
        if audit.features["courier_completed_count"] not in (0, 0.0, None):
            failures.append(f"A's features count B's deliveries: {audit.features['courier_completed_count']}")

    from routing.tests.factories import problem_payload

    plan = world.a.post("/api/v1/routes/optimize", json=problem_payload(jobs=3, vehicles=1))
    requests_made += 1
    assert plan.status_code in (201, 202), plan.text
    if RoutePlan.objects.get(pk=plan.json()["id"]).tenant_id != world.a.tenant.pk:
        failures.append("A's route plan was stored under another tenant")

    # Outcomes in bulk for B's predicted (and reported) order: to A it is an order never predicted, a row refused.
    (_, b_first_order) = world.b_keyed[0]
    bulk = world.a.post(
        "/api/v1/deliveries/outcomes",
        json={"outcomes": [{"order_id": b_first_order["order_id"], "delivery_minutes": 30}]},
    )
    requests_made += 1
    if bulk.status_code != 200 or bulk.json()["recorded"] != 0 or bulk.json()["rejections"][0]["field"] != "order_id":
        failures.append(
            f"A's bulk outcome for B's order was not refused as unknown: {bulk.status_code} {bulk.text[:200]}"
        )

    info = world.a.get("/api/v1/models/info")
    requests_made += 1
    shown = info.json() if info.status_code == 200 else {}
    if (shown.get("version"), shown.get("lineage", {}).get("owner")) != (world.a_version.version, "tenant-a"):
        failures.append(f"models/info showed A something other than A's champion: {info.status_code} {info.text[:200]}")

    after = b_state(world.b.tenant)
    if _changed(before, after):
        failures.append(f"creates by A changed B's state in {_changed(before, after)}")
    assert set(PredictionAudit.objects.filter(tenant=world.b.tenant).values_list("pk", flat=True)) == b_audits

    assert not failures, "\n".join(failures)
    # 25 URL names x 7 methods, detail ones twice (B's id and a missing id), plus lists and creates.
    assert requests_made >= len(PROBES) * len(METHODS)


def test_b_still_sees_its_own_objects(world: World) -> None:
    """The matrix's 404s are about the caller: the same paths answer 200 for B itself."""
    for name, probe in PROBES.items():
        if probe.kind is not Kind.DETAIL or name == "delivery-outcome":
            continue
        response = world.b.get(probe.path.format(b=world.b_targets[probe.target]))
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:200]}"
    again = world.b.post(
        "/api/v1/deliveries/b-secret-order/outcome", json={"delivery_minutes": 31.5}
    )  # the same outcome again: B's order exists for B
    assert again.status_code == 200, again.text
