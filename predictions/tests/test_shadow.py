"""Shadow scoring over real HTTP: the challenger scores the sampled share after commit, the caller sees no change."""

from __future__ import annotations

import uuid
from dataclasses import asdict

import pytest
from django.core.management import call_command

from predictions.models import PredictionAudit, ShadowPrediction
from predictions.shadow import shadow_cache_clear, shadow_is_sampled
from predictions.tests.test_api import BATCH, ETA, order_body
from registry.artifacts import artifact_write
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.services import challenger_set
from registry.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db(transaction=True)

# What differs between two servings of the same order whatever the model: ids and the measured time.
VOLATILE_KEYS = {"audit_id", "request_id", "processing_time_ms"}


@pytest.fixture(autouse=True)
def fresh_shadow_cache() -> None:
    shadow_cache_clear()


def with_challenger(serving_tenant, artifact: bytes) -> ModelVersion:  # type: ignore[no-untyped-def]
    """A second version of the serving tenant's model (same artifact bytes), set as challenger."""
    tenant = serving_tenant.client.tenant
    relative_path, sha256 = artifact_write(relative_dir=f"{tenant.slug}/eta-challenger", data=artifact)
    challenger = ModelVersionFactory(
        registered_model=serving_tenant.version.registered_model,
        artifact_path=relative_path,
        artifact_sha256=sha256,
        lineage={"feature_set": {"name": "eta_order_features", "version": 1}},
    )
    challenger_set(version=challenger, actor="test", reason="shadow it")
    shadow_cache_clear()  # the serving process re-reads the challenger at once instead of within seconds
    return challenger


def stable(body: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in body.items() if key not in VOLATILE_KEYS}


def test_sampling_is_a_reproducible_hash_of_the_audit_id_at_the_configured_share() -> None:
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"audit-{i}") for i in range(20_000)]
    sampled = [shadow_is_sampled(audit_id=audit_id, share=0.25) for audit_id in ids]

    assert 0.24 <= sum(sampled) / len(ids) <= 0.26
    assert sampled == [shadow_is_sampled(audit_id=str(audit_id), share=0.25) for audit_id in ids]
    assert not any(shadow_is_sampled(audit_id=audit_id, share=0.0) for audit_id in ids[:100])
    assert all(shadow_is_sampled(audit_id=audit_id, share=1.0) for audit_id in ids[:100])


def test_the_sampled_share_is_scored_by_the_challenger_from_the_audited_vector(
    serving_tenant, trained_model, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.SHADOW_SHARE = 0.5
    challenger = with_challenger(serving_tenant, trained_model.artifact)
    client = serving_tenant.client

    for i in range(12):
        assert client.post(ETA, json=order_body(order_id=f"one-{i}")).status_code == 200
    batch = client.post(BATCH, json={"orders": [order_body(order_id=f"batch-{i}") for i in range(12)]})
    assert batch.status_code == 200, batch.text

    audits = list(PredictionAudit.objects.filter(tenant=client.tenant))
    expected = {audit.pk for audit in audits if shadow_is_sampled(audit_id=audit.pk, share=0.5)}
    shadows = list(ShadowPrediction.objects.filter(tenant=client.tenant).select_related("audit"))
    assert len(audits) == 24 and 0 < len(expected) < 24  # some sampled, some not
    assert {shadow.audit_id for shadow in shadows} == expected
    predictor = model_version_load(version=challenger)
    for shadow in shadows:
        assert shadow.model_version == challenger and shadow.artifact_sha256 == challenger.artifact_sha256
        recomputed = predictor.predict(shadow.audit.features, explain=False)
        assert shadow.predicted_eta_minutes == recomputed.eta_minutes
        assert shadow.quantiles == asdict(recomputed.quantiles)
        assert shadow.latency_ms > 0


def test_the_response_is_the_same_with_and_without_a_challenger(serving_tenant, trained_model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SHADOW_SHARE = 1.0
    client = serving_tenant.client
    # From the online store, history features carry the state's time; a fallback would stamp each request's.
    call_command("materialize_features", tenant=client.tenant.slug)
    without = client.post(ETA, json=order_body())
    batch_without = client.post(BATCH, json={"orders": [order_body(order_id="b-1"), order_body(order_id="b-2")]})
    with_challenger(serving_tenant, trained_model.artifact)

    with_one = client.post(ETA, json=order_body())
    batch_with = client.post(BATCH, json={"orders": [order_body(order_id="b-1"), order_body(order_id="b-2")]})

    assert without.status_code == with_one.status_code == 200
    assert stable(with_one.json()) == stable(without.json())
    assert [stable(p) for p in batch_with.json()["predictions"]] == [
        stable(p) for p in batch_without.json()["predictions"]
    ]
    assert ShadowPrediction.objects.filter(audit_id=with_one.json()["audit_id"]).count() == 1
    assert ShadowPrediction.objects.filter(audit_id=without.json()["audit_id"]).count() == 0


def test_a_broken_challenger_costs_the_shadow_prediction_never_the_response(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SHADOW_SHARE = 1.0
    client = serving_tenant.client
    call_command("materialize_features", tenant=client.tenant.slug)
    before = client.post(ETA, json=order_body())
    broken = ModelVersionFactory(
        registered_model=serving_tenant.version.registered_model, artifact_path="missing/artifact.json"
    )
    challenger_set(version=broken, actor="test", reason="its artifact is gone")
    shadow_cache_clear()

    after = client.post(ETA, json=order_body())

    assert after.status_code == 200 and stable(after.json()) == stable(before.json())
    assert not ShadowPrediction.objects.exists()


def test_an_idempotent_retry_is_not_scored_again(serving_tenant, trained_model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SHADOW_SHARE = 1.0
    with_challenger(serving_tenant, trained_model.artifact)
    client = serving_tenant.client

    first = client.post(ETA, json=order_body(), headers={"Idempotency-Key": "k-1"})
    retry = client.post(ETA, json=order_body(), headers={"Idempotency-Key": "k-1"})

    assert retry.json() == first.json()
    assert ShadowPrediction.objects.count() == 1
