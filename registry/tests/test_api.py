"""Read-only registry endpoints over real HTTP: versions, lineage, events; scoped to the caller's tenant."""

from __future__ import annotations

import pytest

from registry.models import ModelVersion, RegistryEvent
from registry.services import promotion_request_approve, promotion_request_create
from registry.tests.factories import ModelVersionFactory, RegisteredModelFactory, UserFactory, approver

pytestmark = pytest.mark.django_db(transaction=True)


def test_versions_lineage_and_events_of_the_callers_tenant(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    model = RegisteredModelFactory(tenant=alice.tenant)
    version = ModelVersionFactory(registered_model=model, version=1, lineage={"seed": 7}, metrics={"mae": 3.5})
    request = promotion_request_create(version=version, user=UserFactory(), reason="first")
    promotion_request_approve(request=request, user=approver(), comment="ok")
    ModelVersionFactory(registered_model=RegisteredModelFactory(tenant=bob.tenant), version=1)

    listed = alice.get("/api/v1/models/versions").json()
    detail = alice.get("/api/v1/models/versions/1").json()
    lineage = alice.get("/api/v1/models/versions/1/lineage").json()
    events = alice.get("/api/v1/models/events").json()

    assert listed["count"] == 1 and listed["results"][0]["aliases"] == ["champion"]
    assert detail["metrics"] == {"mae": 3.5} and detail["artifact_sha256"] == version.artifact_sha256
    assert lineage == {"seed": 7}
    assert [e["kind"] for e in events["results"]] == ["promoted", "promotion_approved", "promotion_requested"]
    assert events["results"][0]["to_version"] == 1


def test_registry_is_read_only_and_isolated(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    ModelVersionFactory(registered_model=RegisteredModelFactory(tenant=bob.tenant), version=5)
    before = list(ModelVersion.objects.values_list("id", "status"))

    assert alice.get("/api/v1/models/versions/5").status_code == 404
    assert alice.get("/api/v1/models/versions/5/lineage").status_code == 404
    assert alice.request("DELETE", "/api/v1/models/versions/5").status_code in (404, 405)
    assert bob.request("PATCH", "/api/v1/models/versions/5", json={"status": "archived"}).status_code == 405
    assert bob.post("/api/v1/models/events", json={"kind": "promoted"}).status_code == 405
    assert list(ModelVersion.objects.values_list("id", "status")) == before
    assert not RegistryEvent.objects.exists()
