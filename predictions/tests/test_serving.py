"""The in-process champion cache and GET /api/v1/models/info over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from deliveries.synthetic import SyntheticConfig, write_synthetic_file
from predictions import selectors
from predictions.ml.model import TrainingConfig
from predictions.selectors import serving_model
from registry.artifacts import ArtifactError
from registry.services import champion_rollback, promotion_request_approve, promotion_request_create
from registry.tests.factories import UserFactory, approver
from registry.training import eta_model_train

pytestmark = pytest.mark.django_db(transaction=True)


def promote(version) -> None:  # type: ignore[no-untyped-def]
    request = promotion_request_create(version=version, user=UserFactory(), reason="serve it")
    promotion_request_approve(
        request=request, user=approver(), comment="ok", override_reason="test: no shadow evidence"
    )


@pytest.fixture
def two_versions(make_tenant_client, model_storage, tmp_path: Path):  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    history = write_synthetic_file(tmp_path / "h.csv.gz", SyntheticConfig(rows=2500, seed=8, days=21))
    call_command("import_deliveries", str(history), tenant=client.tenant.slug)
    first = eta_model_train(tenant=client.tenant, created_by="test")
    second = eta_model_train(tenant=client.tenant, created_by="test", config=TrainingConfig(max_depth=3))
    assert first.artifact_sha256 != second.artifact_sha256
    return client, first, second


def test_info_is_503_with_a_code_until_a_champion_serves(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    response = make_tenant_client().get("/api/v1/models/info")
    assert response.status_code == 503
    assert response.json() == {"code": "no_champion", "detail": "no ETA model is serving for this tenant yet"}


def test_promotion_and_rollback_reach_the_worker_without_a_restart(two_versions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_versions
    monkeypatch.setattr(selectors, "CHAMPION_RECHECK_SECONDS", 0.0)
    promote(first)
    info = client.get("/api/v1/models/info").json()
    assert (info["version"], info["artifact_sha256"]) == (1, first.artifact_sha256)
    assert info["feature_set"] == {"name": "eta_order_features", "version": 1}
    in_flight = serving_model(tenant=client.tenant)

    promote(second)
    assert client.get("/api/v1/models/info").json()["version"] == 2
    assert in_flight.version == first  # a request keeps the model it started with

    champion_rollback(registered_model=first.registered_model, actor="oncall", reason="worse")
    assert client.get("/api/v1/models/info").json()["version"] == 1


def test_the_cache_rechecks_the_alias_only_after_its_interval(two_versions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_versions
    monkeypatch.setattr(selectors, "CHAMPION_RECHECK_SECONDS", 3600.0)
    promote(first)
    assert serving_model(tenant=client.tenant).version == first
    promote(second)
    assert serving_model(tenant=client.tenant).version == first  # cached until the interval passes
    monkeypatch.setattr(selectors, "CHAMPION_RECHECK_SECONDS", 0.0)
    assert serving_model(tenant=client.tenant).version == second


def test_a_tampered_new_champion_is_refused_and_the_previous_keeps_serving(two_versions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_versions
    monkeypatch.setattr(selectors, "CHAMPION_RECHECK_SECONDS", 0.0)
    promote(first)
    assert serving_model(tenant=client.tenant).version == first
    artifact = Path(settings.ARTIFACT_ROOT) / second.artifact_path
    artifact.write_bytes(artifact.read_bytes()[:-10])
    promote(second)

    assert serving_model(tenant=client.tenant).version == first
    assert client.get("/api/v1/models/info").json()["version"] == 1
    selectors.serving_cache_clear()  # a fresh worker has nothing to fall back on: the error is explicit
    with pytest.raises(ArtifactError, match="fails its checksum"):
        serving_model(tenant=client.tenant)
    response = client.get("/api/v1/models/info")
    assert response.status_code == 503 and response.json()["code"] == "model_unavailable"
    assert "fails its checksum" in response.json()["detail"]
