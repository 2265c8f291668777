"""Health endpoints as a probe sees them, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)


def test_liveness_and_readiness_with_a_champion_loaded(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    base = serving_tenant.client.base_url
    assert requests.get(f"{base}/health/live", timeout=10).json() == {"status": "alive"}
    ready = requests.get(f"{base}/health/ready", timeout=10)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["redis"] == "ok"
    assert checks["champions"] == {serving_tenant.client.tenant.slug: f"v{serving_tenant.version.version} loaded"}


def test_redis_down_is_reported_but_still_ready(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    ready = requests.get(f"{serving_tenant.client.base_url}/health/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"].startswith("unavailable")


def test_an_unloadable_champion_is_not_ready(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    artifact = Path(settings.ARTIFACT_ROOT) / serving_tenant.version.artifact_path
    artifact.write_bytes(b"corrupt")
    ready = requests.get(f"{serving_tenant.client.base_url}/health/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "cannot load" in ready.json()["checks"]["champions"][serving_tenant.client.tenant.slug]
