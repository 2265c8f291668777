"""Every governance table is append-only in the ORM and in PostgreSQL (intellilog.append_only).

Checked per table, not per example: each model the README calls append-only uses the shared base, has its
triggers in the database, refuses UPDATE, DELETE and TRUNCATE in SQL, and refuses save/delete/queryset
writes in the ORM; records that settle once (promotion requests, alerts) change exactly once.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, models, transaction

from intellilog.append_only import AppendOnlyError, AppendOnlyModel
from monitoring.choices import AlertStatus
from monitoring.models import Alert
from monitoring.services import alert_resolve
from monitoring.tests.factories import raise_example
from registry.choices import RequestStatus
from registry.models import PromotionRequest, RegistryEvent
from registry.services import promotion_request_approve, promotion_request_create
from registry.tests.factories import ModelVersionFactory, UserFactory, approver

pytestmark = pytest.mark.django_db

GOVERNANCE_MODELS = (
    "predictions.PredictionAudit",
    "predictions.PredictionOutcome",
    "predictions.BatchPredictionRun",
    "predictions.ShadowPrediction",
    "registry.RegistryEvent",
    "registry.ShadowEvaluation",
    "registry.PromotionRequest",
    "monitoring.Alert",
)


def append_only_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if issubclass(model, AppendOnlyModel)]


def triggers_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table])
        return {name for (name,) in cursor.fetchall()}


def refused_in_sql(statement: str, params: list[object]) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError as error:
        return "append-only" in str(error)
    return False


@pytest.mark.parametrize("label", GOVERNANCE_MODELS)
def test_every_governance_model_uses_the_shared_mechanism(label: str) -> None:
    assert issubclass(apps.get_model(label), AppendOnlyModel)


@pytest.mark.parametrize("model", append_only_models(), ids=lambda model: model._meta.label)
def test_every_append_only_model_has_its_database_triggers(model: type[models.Model]) -> None:
    table = model._meta.db_table
    assert {f"{table}_append_only", f"{table}_append_only_truncate"} <= triggers_of(table)
    assert refused_in_sql(f'TRUNCATE "{table}" CASCADE', [])


def a_decided_request() -> PromotionRequest:
    request = promotion_request_create(version=ModelVersionFactory(), user=UserFactory(), reason="better")
    promotion_request_approve(request=request, user=approver(), comment="ok")
    return PromotionRequest.objects.get(pk=request.pk)


def test_a_registry_event_is_refused_every_change_in_the_orm_and_in_sql() -> None:
    a_decided_request()
    event = RegistryEvent.objects.first()
    original = event.reason

    event.reason = "rewritten history"
    for write in (event.save, event.delete, RegistryEvent.objects.all().delete):
        with pytest.raises(AppendOnlyError):
            write()
    with pytest.raises(AppendOnlyError):
        RegistryEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(AppendOnlyError):
        RegistryEvent.objects.bulk_update([event], ["reason"])
    assert refused_in_sql("UPDATE registry_registryevent SET reason = 'x' WHERE id = %s", [event.pk])
    assert refused_in_sql("DELETE FROM registry_registryevent WHERE id = %s", [event.pk])
    assert RegistryEvent.objects.get(pk=event.pk).reason == original


def test_a_promotion_request_is_decided_once_then_frozen() -> None:
    request = a_decided_request()
    assert request.status == RequestStatus.APPROVED

    request.status = RequestStatus.PENDING
    with pytest.raises(AppendOnlyError):
        request.save()
    with pytest.raises(AppendOnlyError):
        PromotionRequest.objects.filter(pk=request.pk).update(status=RequestStatus.REJECTED)
    assert refused_in_sql("UPDATE registry_promotionrequest SET status = 'pending' WHERE id = %s", [request.pk])
    assert refused_in_sql("DELETE FROM registry_promotionrequest WHERE id = %s", [request.pk])
    assert PromotionRequest.objects.get(pk=request.pk).status == RequestStatus.APPROVED


def test_a_pending_promotion_request_cannot_be_deleted() -> None:
    request = promotion_request_create(version=ModelVersionFactory(), user=UserFactory(), reason="better")
    with pytest.raises(AppendOnlyError):
        request.delete()
    assert refused_in_sql("DELETE FROM registry_promotionrequest WHERE id = %s", [request.pk])


def test_a_firing_alert_still_counts_repeats_and_a_resolved_one_is_history() -> None:
    first = raise_example()
    assert raise_example().occurrences == 2  # the firing row is still updated in place
    resolved = alert_resolve(rule=first.rule, tenant=None, subject=first.subject)
    assert resolved is not None and resolved.status == AlertStatus.RESOLVED

    resolved.summary = "nothing happened"
    with pytest.raises(AppendOnlyError):
        resolved.save()
    with pytest.raises(AppendOnlyError):
        Alert.objects.filter(pk=resolved.pk).update(summary="nothing happened")
    assert refused_in_sql("UPDATE monitoring_alert SET summary = 'x' WHERE id = %s", [resolved.pk])
    assert refused_in_sql("DELETE FROM monitoring_alert WHERE id = %s", [resolved.pk])
    assert Alert.objects.get(pk=resolved.pk).summary == first.summary
