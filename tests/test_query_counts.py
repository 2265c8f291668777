"""Query counts of every API list endpoint and admin changelist: fixed, whatever the number of rows.

Each page is read with N rows and again with 3N; an N+1 (a related object fetched per row) shows as a
count that grows. The API lists' counts are pinned exactly, so a new query per request is a visible change.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.test import APIClient

from deliveries.tests.factories import DeliveryFactory, ImportBatchFactory
from features.models import FeatureSet
from monitoring.models import Alert, AlertNotification, RetrainingTrigger
from monitoring.tests.factories import AccuracyReportFactory, AlertChannelFactory, DriftReportFactory, raise_example
from predictions.models import BatchPredictionRun, PredictionAuditArchive
from predictions.tests.factories import served_with_outcomes, shadow_scored
from registry.models import Backtest, PromotionRequest, RegistryEvent
from registry.tests.factories import ModelVersionFactory, RegisteredModelFactory, ShadowEvaluationFactory, UserFactory
from routing.tests.factories import RoutePlanFactory
from tenants.models import Tenant
from tenants.services import api_key_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

N = 2
_serial = itertools.count(1)


@dataclass
class World:
    """The tenant whose rows are listed, and a trained version of its ETA model (a factory artifact)."""

    tenant: Tenant

    def __post_init__(self) -> None:
        self.version = ModelVersionFactory(registered_model=RegisteredModelFactory(tenant=self.tenant))


def _now() -> dt.datetime:
    return timezone.now()


def _events(world: World, count: int) -> None:
    for _ in range(count):
        RegistryEvent.objects.create(
            tenant=world.tenant,
            registered_model=world.version.registered_model,
            kind="registered",
            actor="test",
            to_version=ModelVersionFactory(registered_model=world.version.registered_model),
        )


def _shadow_evaluations(world: World, count: int) -> None:
    for _ in range(count):
        challenger = ModelVersionFactory(registered_model=world.version.registered_model)
        ShadowEvaluationFactory(champion=world.version, challenger=challenger)


def _alerts(world: World, count: int) -> list[Alert]:
    return [raise_example(tenant=world.tenant, subject=f"subject {next(_serial)}") for _ in range(count)]


def _notifications(world: World, count: int) -> None:
    channel = AlertChannelFactory()
    for alert in _alerts(world, count):
        AlertNotification.objects.create(
            alert=alert, channel=channel, event="trigger", next_attempt_at=_now(), payload={}
        )


def _promotion_requests(world: World, count: int) -> None:
    for _ in range(count):
        PromotionRequest.objects.create(
            tenant=world.tenant,
            version=ModelVersionFactory(registered_model=world.version.registered_model),
            requested_by=UserFactory(),
            reason="lower MAE",
        )


def _backtests(world: World, count: int) -> None:
    for _ in range(count):
        Backtest.objects.create(
            tenant=world.tenant,
            version=ModelVersionFactory(registered_model=world.version.registered_model),
            start_date=dt.date(2022, 3, 1),
            end_date=dt.date(2022, 3, 7),
            days=[],
            overall={"rows": 1, "mae": 3.0},
            data_cut={},
            created_by="test",
        )


def _batch_runs(world: World, count: int) -> None:
    for _ in range(count):
        BatchPredictionRun.objects.create(
            tenant=world.tenant,
            model_version=ModelVersionFactory(registered_model=world.version.registered_model),
            artifact_sha256="0" * 64,
            input_name="orders.csv",
            input_sha256="0" * 64,
            output_name="etas.csv",
            output_sha256="0" * 64,
            rows=1,
            history_delivery_id=0,
            started_at=_now(),
            finished_at=_now(),
        )


def _shadow_predictions(world: World, count: int) -> None:
    challenger = ModelVersionFactory(registered_model=world.version.registered_model)
    shadow_scored(
        audits=served_with_outcomes(version=world.version, errors=[1.0] * count),
        challenger=challenger,
        errors=[1.0] * count,
    )


def _retraining_triggers(world: World, count: int) -> None:
    for alert in _alerts(world, count):
        RetrainingTrigger.objects.create(tenant=world.tenant, alert=alert, decision="queued", reason="drift")


def _access(model: type, count: int, **fields: object) -> None:
    for _ in range(count):
        model.objects.create(
            username=f"user{next(_serial)}", ip_address="127.0.0.1", user_agent="test", path_info="/admin/", **fields
        )


def _interval(seconds: int | None = None) -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=seconds or next(_serial), period=IntervalSchedule.SECONDS)


# Rows of each model, made `count` at a time for the world's tenant; keyed by the model's label.
ROWS: dict[str, Callable[[World, int], object]] = {
    "auth.Group": lambda w, n: [Group.objects.create(name=f"group {next(_serial)}") for _ in range(n)],
    "auth.User": lambda w, n: UserFactory.create_batch(n),
    "django_celery_beat.ClockedSchedule": lambda w, n: [
        ClockedSchedule.objects.create(clocked_time=_now()) for _ in range(n)
    ],
    "django_celery_beat.CrontabSchedule": lambda w, n: [
        CrontabSchedule.objects.create(minute=str(next(_serial) % 60)) for _ in range(n)
    ],
    "django_celery_beat.SolarSchedule": lambda w, n: [
        SolarSchedule.objects.create(event="sunrise", latitude=next(_serial) % 90, longitude=0) for _ in range(n)
    ],
    "django_celery_beat.IntervalSchedule": lambda w, n: [_interval() for _ in range(n)],
    "django_celery_beat.PeriodicTask": lambda w, n: [
        PeriodicTask.objects.create(name=f"task {next(_serial)}", task="noop", interval=_interval()) for _ in range(n)
    ],
    "axes.AccessLog": lambda w, n: _access(AccessLog, n),
    "axes.AccessFailureLog": lambda w, n: _access(AccessFailureLog, n),
    "axes.AccessAttempt": lambda w, n: _access(AccessAttempt, n, failures_since_start=1),
    "tenants.Tenant": lambda w, n: TenantFactory.create_batch(n),
    "tenants.ApiKey": lambda w, n: [api_key_create(tenant=w.tenant, name="test") for _ in range(n)],
    "deliveries.ImportBatch": lambda w, n: ImportBatchFactory.create_batch(n, tenant=w.tenant),
    "deliveries.Delivery": lambda w, n: DeliveryFactory.create_batch(n, tenant=w.tenant),
    "registry.RegisteredModel": lambda w, n: [
        ModelVersionFactory(registered_model=RegisteredModelFactory(tenant=w.tenant, name=f"model {next(_serial)}"))
        for _ in range(n)
    ],
    "registry.ModelVersion": lambda w, n: ModelVersionFactory.create_batch(
        n, registered_model=w.version.registered_model
    ),
    "registry.PromotionRequest": _promotion_requests,
    "registry.RegistryEvent": _events,
    "registry.ShadowEvaluation": _shadow_evaluations,
    "registry.Backtest": _backtests,
    "features.FeatureSet": lambda w, n: [
        FeatureSet.objects.create(name="eta", version=next(_serial), entities=[], features=[], ttl_seconds=60)
        for _ in range(n)
    ],
    "predictions.PredictionAudit": lambda w, n: served_with_outcomes(version=w.version, errors=[1.0] * n),
    "predictions.PredictionOutcome": lambda w, n: served_with_outcomes(version=w.version, errors=[1.0] * n),
    "predictions.ShadowPrediction": _shadow_predictions,
    "predictions.BatchPredictionRun": _batch_runs,
    "predictions.PredictionAuditArchive": lambda w, n: [
        PredictionAuditArchive.objects.create(
            month=dt.date(2000 + next(_serial), 1, 1), path="archive.csv.gz", sha256="0" * 64, rows=1, size_bytes=1
        )
        for _ in range(n)
    ],
    "routing.RoutePlan": lambda w, n: RoutePlanFactory.create_batch(n, tenant=w.tenant),
    "monitoring.AlertChannel": lambda w, n: AlertChannelFactory.create_batch(n),
    "monitoring.Alert": _alerts,
    "monitoring.AlertNotification": _notifications,
    "monitoring.DriftReport": lambda w, n: DriftReportFactory.create_batch(
        n, model_version=ModelVersionFactory(registered_model=w.version.registered_model)
    ),
    "monitoring.AccuracyReport": lambda w, n: AccuracyReportFactory.create_batch(
        n, model_version=ModelVersionFactory(registered_model=w.version.registered_model)
    ),
    "monitoring.RetrainingTrigger": _retraining_triggers,
}


def _queries(read: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = read()
    assert response.status_code == 200, response.content[:500]  # type: ignore[attr-defined]
    return len(captured)


def _labels() -> list[str]:
    return [model._meta.label for model in admin.site._registry]


def test_every_registered_admin_has_rows_to_list() -> None:
    assert sorted(set(_labels()) - set(ROWS)) == []


@pytest.mark.parametrize("label", _labels())
def test_an_admin_changelist_reads_as_many_rows_in_the_same_queries(label: str) -> None:
    model = next(model for model in admin.site._registry if model._meta.label == label)
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    client = Client()
    client.force_login(UserFactory(is_superuser=True))
    world = World(tenant=TenantFactory())
    ROWS[label](world, N)
    client.get(url)  # warms the session and content-type caches, which are per process
    with_n = _queries(lambda: client.get(url))
    ROWS[label](world, 2 * N)
    assert model._default_manager.count() >= 3 * N
    assert _queries(lambda: client.get(url)) == with_n


# Each API list: its URL, the rows it lists, and the pinned number of queries of one page.
API_LISTS = {
    "delivery-list": ("deliveries.Delivery", 3),
    "import-batch-list": ("deliveries.ImportBatch", 3),
    "model-version-list": ("registry.ModelVersion", 4),
    "registry-event-list": ("registry.RegistryEvent", 3),
    "shadow-evaluation-list": ("registry.ShadowEvaluation", 3),
    "drift-report-list": ("monitoring.DriftReport", 3),
    "accuracy-report-list": ("monitoring.AccuracyReport", 3),
    "alert-list": ("monitoring.Alert", 3),
    "route-plan-list": ("routing.RoutePlan", 3),
}


def test_every_api_list_endpoint_has_a_pinned_count() -> None:
    routes = {name for name in get_resolver().reverse_dict if isinstance(name, str) and name.endswith("-list")}
    assert routes == set(API_LISTS)


@pytest.mark.parametrize("name", API_LISTS)
def test_an_api_list_reads_as_many_rows_in_a_pinned_number_of_queries(name: str, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    label, pinned = API_LISTS[name]
    world = World(tenant=TenantFactory())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(tenant=world.tenant, name='test').raw_key}")
    url = reverse(name)
    ROWS[label](world, N)
    client.get(url)  # the key's first use of the minute also records its last use
    with_n = _queries(lambda: client.get(url))
    ROWS[label](world, 2 * N)
    with django_assert_num_queries(pinned):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 3 * N
    assert with_n == pinned
