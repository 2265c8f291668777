"""Retraining on alerts: a newly firing champion alert trains once per cool-down, and the result is challenger."""

from __future__ import annotations

import datetime as dt

import pytest

from core.model import TrainingConfig
from monitoring.choices import AlertRule, RetrainingDecision
from monitoring.live.drift import drift_check_run
from monitoring.live.retraining import retraining_request
from monitoring.models import RetrainingTrigger
from monitoring.tests.factories import raise_example
from monitoring.tests.live.conftest import audits_create, recent_vectors
from registry.choices import Alias, EventKind, VersionStatus
from registry.models import ModelAlias, ModelVersion, RegistryEvent
from registry.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


@pytest.fixture
def quick_training(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The real training path on the tenant's history, with one small candidate instead of the default two.
    monkeypatch.setattr("registry.training.default_candidates", lambda **_: (TrainingConfig(max_rounds=40),))


def _shifted_window(monitored, end: dt.datetime, seed: int) -> None:  # type: ignore[no-untyped-def]
    vectors = recent_vectors(monitored, 300, seed=seed)
    vectors["distance_km"] = vectors["distance_km"] * 2
    audits_create(monitored, vectors, end=end)


def test_a_new_drift_alert_trains_once_and_the_new_version_becomes_challenger(  # type: ignore[no-untyped-def]
    monitored, quick_training, django_capture_on_commit_callbacks
) -> None:
    ModelVersion.objects.filter(pk=monitored.version.pk).update(created_at=END - dt.timedelta(days=3))
    _shifted_window(monitored, END, seed=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)
    # The condition persists five minutes later: the same alert, seen again, trains nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        repeat = drift_check_run(
            tenant=monitored.tenant, version=monitored.version, window_end=END + dt.timedelta(minutes=5)
        )

    assert first.alert is not None and first.alert == repeat.alert and callbacks == []
    trigger = RetrainingTrigger.objects.get()
    assert trigger.decision == RetrainingDecision.QUEUED and trigger.alert == first.alert
    new = ModelVersion.objects.exclude(pk=monitored.version.pk).get(tenant=monitored.tenant)
    assert new.status == VersionStatus.READY
    challenger = ModelAlias.objects.get(registered_model=monitored.version.registered_model, alias=Alias.CHALLENGER)
    assert challenger.version == new
    event = RegistryEvent.objects.get(kind=EventKind.CHALLENGER_SET)
    assert event.to_version == new and "retraining on Drift alert" in event.reason
    champion = ModelAlias.objects.get(registered_model=monitored.version.registered_model, alias=Alias.CHAMPION)
    assert champion.version == monitored.version  # serving is untouched until a promotion


def test_a_second_alert_within_the_cool_down_queues_nothing(monitored, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    ModelVersion.objects.filter(pk=monitored.version.pk).update(created_at=END - dt.timedelta(days=3))
    drift = raise_example(tenant=monitored.tenant, subject=str(monitored.version))
    accuracy = raise_example(tenant=monitored.tenant, rule=AlertRule.ACCURACY_DEGRADATION, subject="x")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = retraining_request(tenant=monitored.tenant, alert=drift, now=END)
        second = retraining_request(tenant=monitored.tenant, alert=accuracy, now=END + dt.timedelta(hours=1))

    assert first.decision == RetrainingDecision.QUEUED and second.decision == RetrainingDecision.COOLING_DOWN
    assert len(callbacks) == 1


def test_a_recently_trained_version_or_the_switch_holds_retraining_back(monitored, settings) -> None:  # type: ignore[no-untyped-def]
    alert = raise_example(tenant=monitored.tenant, subject=str(monitored.version))
    ModelVersionFactory(registered_model=monitored.version.registered_model)  # created just now, e.g. nightly

    assert retraining_request(tenant=monitored.tenant, alert=alert).decision == RetrainingDecision.COOLING_DOWN
    settings.RETRAIN_ON_ALERT = False
    assert retraining_request(tenant=monitored.tenant, alert=alert).decision == RetrainingDecision.DISABLED


def test_a_challengers_drift_alert_does_not_retrain(monitored) -> None:  # type: ignore[no-untyped-def]
    challenger = ModelVersionFactory(
        registered_model=monitored.version.registered_model,
        artifact_path=monitored.version.artifact_path,
        artifact_sha256=monitored.version.artifact_sha256,
        lineage=monitored.version.lineage,
    )
    vectors = recent_vectors(monitored, 300, seed=2)
    vectors["distance_km"] = vectors["distance_km"] * 2
    audits_create(monitored, vectors, end=END, version=challenger)

    report = drift_check_run(tenant=monitored.tenant, version=challenger, window_end=END)

    assert report.is_drifted and report.alert is not None
    assert not RetrainingTrigger.objects.exists()
