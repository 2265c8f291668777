"""The in-process champion cache and GET /api/v1/models/info over real HTTP."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from core.model import TrainingConfig
from monitoring.choices import AlertRule, AlertSeverity, AlertStatus
from monitoring.models import Alert
from predictions import selectors
from predictions.constants import CHAMPION_RECHECK_SECONDS, CHAMPION_REFUSAL_RETRY_SECONDS
from predictions.models import PredictionAudit
from predictions.selectors import serving_model
from predictions.tests.test_api import ETA, order_body
from registry.artifacts import artifact_write
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.services import champion_rollback, promotion_request_approve, promotion_request_create
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from registry.tests.test_services import tamper
from registry.training import eta_model_train
from tests.training import history_model_bytes

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


def test_a_worker_holding_the_previous_champion_keeps_it_when_the_new_one_rots(two_versions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_versions
    monkeypatch.setattr(selectors, "CHAMPION_RECHECK_SECONDS", 0.0)
    promote(first)
    assert serving_model(tenant=client.tenant).version == first
    promote(second)  # the file verifies at approval, and is corrupted before this worker loads it
    tamper(second)

    serving = serving_model(tenant=client.tenant)
    assert (serving.version, serving.replaces) == (first, second)
    assert client.get("/api/v1/models/info").json()["version"] == 1


@pytest.fixture(scope="session")
def second_artifact(trained_model) -> bytes:  # type: ignore[no-untyped-def]
    """A second, different model of the same history (the session's `trained_model` is the first)."""
    return history_model_bytes(trained_model.history_path, TrainingConfig(max_rounds=50, max_depth=3))


@pytest.fixture
def two_champions(serving_tenant, second_artifact: bytes):  # type: ignore[no-untyped-def]
    """The serving tenant's champion, then a second version promoted over it; (client, first, second)."""
    client, first = serving_tenant.client, serving_tenant.version
    relative_path, sha256 = artifact_write(relative_dir=f"{client.tenant.slug}/eta", data=second_artifact)
    second = ModelVersionFactory(
        registered_model=first.registered_model,
        artifact_path=relative_path,
        artifact_sha256=sha256,
        lineage=first.lineage,
    )
    promote(second)
    return client, first, second


def test_a_fresh_worker_serves_the_previous_champion_when_the_champion_is_corrupt(two_champions, caplog) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_champions
    tamper(second)
    selectors.serving_cache_clear()  # a worker that starts now: nothing in memory to fall back on

    with caplog.at_level(logging.ERROR, logger="predictions.selectors"):
        serving = serving_model(tenant=client.tenant)

    assert (serving.version, serving.replaces) == (first, second)
    assert "fails its checksum" in serving.replaced_because
    [logged] = [record.getMessage() for record in caplog.records if record.name == "predictions.selectors"]
    assert logged.startswith(f"champion {second} cannot be loaded: artifact {second.artifact_path} fails its checksum")
    assert logged.endswith(f"; {first} serves in its place")
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.status, alert.tenant) == (
        AlertRule.SERVING_ERRORS,
        AlertSeverity.WARNING,
        AlertStatus.FIRING,
        client.tenant,
    )
    assert (alert.details["champion_version"], alert.details["serving_version"]) == (second.version, first.version)

    response = client.post(ETA, json=order_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_version"], body["artifact_sha256"]) == (first.version, first.artifact_sha256)
    audit = PredictionAudit.objects.get(pk=body["audit_id"])
    assert (audit.model_version, audit.artifact_sha256) == (first, first.artifact_sha256)
    assert client.get("/api/v1/models/info").json()["version"] == first.version


def test_a_refused_artifact_is_reread_only_after_a_while_and_a_restored_one_serves(two_champions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, first, second = two_champions
    clock = [1000.0]
    monkeypatch.setattr(selectors, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    loads: list[ModelVersion] = []

    def counted_load(*, version: ModelVersion):  # type: ignore[no-untyped-def]
        loads.append(version)
        return model_version_load(version=version)

    monkeypatch.setattr(selectors, "model_version_load", counted_load)
    path = Path(settings.ARTIFACT_ROOT) / second.artifact_path
    good = path.read_bytes()
    tamper(second)
    selectors.serving_cache_clear()

    assert serving_model(tenant=client.tenant).version == first
    for _ in range(3):  # the alias is re-read at every interval, the bad file is not hashed again
        clock[0] += CHAMPION_RECHECK_SECONDS
        assert serving_model(tenant=client.tenant).version == first
    assert loads == [second, first]

    path.write_bytes(good)  # restored from MLflow, as the runbook says
    clock[0] += CHAMPION_REFUSAL_RETRY_SECONDS
    serving = serving_model(tenant=client.tenant)
    assert (serving.version, serving.is_fallback, loads) == (second, False, [second, first, second])
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_with_no_loadable_version_predictions_answer_503_model_unavailable(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client, version = serving_tenant.client, serving_tenant.version
    tamper(version)
    selectors.serving_cache_clear()

    for response in (client.post(ETA, json=order_body()), client.get("/api/v1/models/info")):
        assert response.status_code == 503
        assert response.json()["code"] == "model_unavailable"
        detail = response.json()["detail"]
        assert detail.startswith(f"champion {version} cannot be loaded: artifact {version.artifact_path} fails")
        assert detail.endswith("no previous champion can be loaded either")
    assert not PredictionAudit.objects.exists()
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.details["serving_version"]) == (
        AlertRule.SERVING_ERRORS,
        AlertSeverity.CRITICAL,
        None,
    )
