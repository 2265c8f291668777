"""Health endpoints as a probe sees them, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR_TOKEN = "operator-scrape-token"


@pytest.fixture(autouse=True)
def metrics_token(settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = OPERATOR_TOKEN


def operator_ready(base: str) -> requests.Response:
    """Readiness as an operator (holding the metrics token) reads it, tenant by tenant."""
    return requests.get(f"{base}/health/ready", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10)


def test_anyone_else_sees_counts_and_no_tenant_names(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Api-Key {serving_tenant.client.raw_key}"},
    ):
        ready = requests.get(f"{serving_tenant.client.base_url}/health/ready", headers=headers, timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"]["champions"] == {"loaded": 1, "cannot_load": 0}
        assert serving_tenant.client.tenant.slug not in ready.text


def test_liveness_and_readiness_with_a_champion_loaded(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    base = serving_tenant.client.base_url
    assert requests.get(f"{base}/health/live", timeout=10).json() == {"status": "alive"}
    ready = operator_ready(base)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["redis"] == "ok"
    assert checks["champions"] == {serving_tenant.client.tenant.slug: f"v{serving_tenant.version.version} loaded"}


def test_redis_down_is_reported_but_still_ready(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    ready = operator_ready(serving_tenant.client.base_url)
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"].startswith("unavailable")


def test_a_process_that_can_serve_no_tenant_is_not_ready(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    artifact = Path(settings.ARTIFACT_ROOT) / serving_tenant.version.artifact_path
    artifact.write_bytes(b"corrupt")
    ready = operator_ready(serving_tenant.client.base_url)
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "cannot load" in ready.json()["checks"]["champions"][serving_tenant.client.tenant.slug]


def _champion(tenant, artifact: bytes, relative_dir: str):  # type: ignore[no-untyped-def]
    from registry.artifacts import artifact_write
    from registry.constants import ETA_MODEL_NAME
    from registry.services import promotion_request_approve, promotion_request_create, registered_model_get_or_create
    from registry.tests.factories import ModelVersionFactory, UserFactory, approver

    relative_path, sha256 = artifact_write(relative_dir=relative_dir, data=artifact)
    version = ModelVersionFactory(
        registered_model=registered_model_get_or_create(tenant=tenant, name=ETA_MODEL_NAME),
        artifact_path=relative_path,
        artifact_sha256=sha256,
    )
    request = promotion_request_create(version=version, user=UserFactory(), reason="serve it")
    promotion_request_approve(request=request, user=approver(), comment="ok", override_reason="test")
    return version


def test_one_tenants_unloadable_champion_leaves_the_process_ready_for_the_others(  # type: ignore[no-untyped-def]
    serving_tenant, make_tenant_client, trained_model
) -> None:
    from registry.tests.test_services import tamper

    broken = make_tenant_client()
    version = _champion(broken.tenant, trained_model.artifact, f"{broken.tenant.slug}/eta")
    tamper(version)

    ready = operator_ready(serving_tenant.client.base_url)

    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    champions = ready.json()["checks"]["champions"]
    assert champions[serving_tenant.client.tenant.slug] == f"v{serving_tenant.version.version} loaded"
    assert champions[broken.tenant.slug].startswith(f"cannot load: champion {version} cannot be loaded: artifact")
    assert champions[broken.tenant.slug].endswith("no previous champion can be loaded either")


def test_a_champion_served_by_its_predecessor_is_ready_and_says_so(serving_tenant, trained_model) -> None:  # type: ignore[no-untyped-def]
    from registry.tests.test_services import tamper

    client, first = serving_tenant.client, serving_tenant.version
    # The same model bytes in a file of its own: corrupting it leaves the first champion's file intact.
    second = _champion(client.tenant, trained_model.artifact, f"{client.tenant.slug}/eta/second")
    tamper(second)

    ready = operator_ready(client.base_url)

    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    state = ready.json()["checks"]["champions"][client.tenant.slug]
    assert state.startswith(
        f"v{first.version} loaded in place of the champion v{second.version}, which cannot load: artifact "
        f"{second.artifact_path} fails its checksum"
    )
