"""prediction_serve's audit write, and preloading the serving models into a fresh worker.

The audit row is one statement in autocommit and a savepoint inside a caller's transaction. Either way an
idempotency key keeps its meaning (a retry that loses the race to insert answers with the stored
prediction, a different body is refused), and the shadow publish runs only once the row is committed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from predictions import services
from predictions.models import PredictionAudit, ShadowPrediction
from predictions.orders import OrderInput
from predictions.selectors import serving_cache_clear, serving_model
from predictions.services import IdempotencyConflict, OrderRequest, prediction_serve, serving_models_preload
from predictions.shadow import shadow_cache_clear
from predictions.tests.test_api import ETA, order_body
from predictions.tests.test_shadow import with_challenger
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

TRANSACTION_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@pytest.fixture(autouse=True)
def fresh_shadow_cache() -> None:
    shadow_cache_clear()


def request_for(audit: PredictionAudit, **body_changes: object) -> OrderRequest:
    """The request that produced ``audit`` (with ``body_changes`` applied to its body), as the view builds it."""
    order = dict(audit.order)
    if "order_id" in body_changes:
        order["order_id"] = body_changes["order_id"]
    return OrderRequest(order=OrderInput.from_json(order), body={**audit.request, **body_changes})


def lose_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next idempotency check finds nothing, as when a concurrent retry inserts right after it."""
    real = services._stored_replay
    is_first = [True]

    def checked_too_early(*args: object) -> object:
        if is_first.pop() if is_first else False:
            return None
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "_stored_replay", checked_too_early)


def first_audit(serving_tenant, key: str | None = "k-1") -> PredictionAudit:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": key} if key else {}
    response = serving_tenant.client.post(ETA, json=order_body(), headers=headers)
    assert response.status_code == 200, response.text
    return PredictionAudit.objects.get(id=response.json()["audit_id"])


def test_in_autocommit_the_audit_is_one_insert_without_begin_or_commit(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    audit = first_audit(serving_tenant, key=None)

    with CaptureQueriesContext(connection) as captured:
        served = prediction_serve(
            tenant=audit.tenant, item=request_for(audit, order_id="web-2"), request_id="r-2", idempotency_key="k-2"
        )

    statements = [query["sql"] for query in captured.captured_queries]
    assert [sql for sql in statements if sql.startswith(TRANSACTION_STATEMENTS)] == []
    assert sum(sql.startswith('INSERT INTO "predictions_predictionaudit"') for sql in statements) == 1
    assert not served.is_replay and served.body["order_id"] == "web-2"
    assert PredictionAudit.objects.filter(tenant=audit.tenant, idempotency_key="k-2").get().id == served.audit.id


def test_a_retry_losing_the_insert_race_in_autocommit_answers_with_the_stored_prediction(
    serving_tenant, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    audit = first_audit(serving_tenant)
    lose_the_race(monkeypatch)

    served = prediction_serve(tenant=audit.tenant, item=request_for(audit), request_id="r-2", idempotency_key="k-1")

    assert served.is_replay and served.audit.id == audit.id
    assert served.body == audit.response
    assert PredictionAudit.objects.count() == 1  # the connection is usable after the refused INSERT
    assert connection.get_autocommit()


def test_a_different_body_losing_the_insert_race_is_still_a_conflict(serving_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    audit = first_audit(serving_tenant)
    lose_the_race(monkeypatch)

    with pytest.raises(IdempotencyConflict):
        prediction_serve(
            tenant=audit.tenant, item=request_for(audit, driver_age=40), request_id="r-2", idempotency_key="k-1"
        )

    assert PredictionAudit.objects.count() == 1


def test_inside_a_callers_transaction_a_lost_race_rolls_back_only_the_insert(serving_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    audit = first_audit(serving_tenant)
    lose_the_race(monkeypatch)

    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            served = prediction_serve(
                tenant=audit.tenant, item=request_for(audit), request_id="r-2", idempotency_key="k-1"
            )
        # The caller's transaction was not aborted by the duplicate key: it can still read and write.
        assert PredictionAudit.objects.count() == 1
        fresh = prediction_serve(
            tenant=audit.tenant, item=request_for(audit, order_id="web-3"), request_id="r-3", idempotency_key=None
        )

    statements = [query["sql"] for query in captured.captured_queries]
    assert any(sql.startswith("ROLLBACK TO SAVEPOINT") for sql in statements)
    assert served.is_replay and served.audit.id == audit.id
    assert set(PredictionAudit.objects.values_list("id", flat=True)) == {audit.id, fresh.audit.id}


def test_the_shadow_publish_waits_for_the_callers_commit_and_runs_at_once_in_autocommit(
    serving_tenant, trained_model, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.SHADOW_SHARE = 1.0
    audit = first_audit(serving_tenant, key=None)
    with_challenger(serving_tenant, trained_model.artifact)

    with transaction.atomic():
        inside = prediction_serve(
            tenant=audit.tenant, item=request_for(audit, order_id="web-2"), request_id="r-2", idempotency_key=None
        )
        assert not ShadowPrediction.objects.filter(audit=inside.audit).exists()
    assert ShadowPrediction.objects.filter(audit=inside.audit).count() == 1

    alone = prediction_serve(
        tenant=audit.tenant, item=request_for(audit, order_id="web-3"), request_id="r-3", idempotency_key=None
    )
    assert ShadowPrediction.objects.filter(audit=alone.audit).count() == 1


def test_preload_loads_each_active_tenants_model_so_the_first_request_reads_the_cache(
    serving_tenant, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    TenantFactory()  # no champion: nothing to load
    serving_cache_clear()
    beats: list[None] = []

    loaded = serving_models_preload(heartbeat=lambda: beats.append(None))

    assert [serving.version for serving in loaded] == [serving_tenant.version]
    assert len(beats) == Tenant.objects.filter(is_active=True).count() == 2
    with django_assert_num_queries(0):
        assert serving_model(tenant=serving_tenant.client.tenant).version == serving_tenant.version


def test_preload_skips_inactive_tenants_and_logs_a_model_that_cannot_load(serving_tenant, caplog) -> None:  # type: ignore[no-untyped-def]
    Tenant.objects.filter(pk=serving_tenant.client.tenant.pk).update(is_active=False)
    serving_cache_clear()
    assert serving_models_preload() == []

    Tenant.objects.filter(pk=serving_tenant.client.tenant.pk).update(is_active=True)
    (Path(django_settings.ARTIFACT_ROOT) / serving_tenant.version.artifact_path).unlink()
    serving_cache_clear()

    assert serving_models_preload() == []
    assert f"no model of tenant {serving_tenant.client.tenant.slug} can be loaded" in caplog.text
