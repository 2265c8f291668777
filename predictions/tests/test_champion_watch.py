"""Automatic rollback: a promoted champion significantly worse than its predecessor is rolled back, once."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from monitoring.choices import AlertRule, AlertSeverity, AlertStatus
from monitoring.models import Alert
from predictions.champion_watch import champion_watch_run, rollback_alert_subject
from predictions.tasks import champion_watch_all_tenants_task
from predictions.tests.factories import served_with_outcomes
from registry.choices import Alias, EventKind
from registry.models import RegistryEvent
from registry.services import (
    alias_version,
    champion_rollback,
    champion_rollback_automatic,
    promotion_request_approve,
    promotion_request_create,
)
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from registry.tests.test_services import tamper

pytestmark = pytest.mark.django_db


def promote(version, **approval: str) -> RegistryEvent:  # type: ignore[no-untyped-def]
    request = promotion_request_create(version=version, user=UserFactory(), reason="better offline")
    promotion_request_approve(request=request, user=approver(), comment="ok", **approval)
    return RegistryEvent.objects.filter(kind=EventKind.PROMOTED, to_version=version).get()


@pytest.fixture
def promoted(settings):  # type: ignore[no-untyped-def]
    """v1 served for a while, then v2 was promoted over it; returns (v1, v2, the promotion event)."""
    settings.ROLLBACK_MIN_OUTCOMES, settings.ROLLBACK_PLANNED_OUTCOMES = 100, 500
    settings.ROLLBACK_MIN_EFFECT_MINUTES, settings.ROLLBACK_BASELINE_HOURS = 0.5, 24
    previous = ModelVersionFactory()
    promote(previous)
    new = ModelVersionFactory(registered_model=previous.registered_model)
    promotion = promote(new, override_reason="test: no shadow evidence")
    return previous, new, promotion


def errors(seed: int, size: int, scale: float) -> list[float]:
    return np.round(np.random.default_rng(seed).gamma(2.0, scale, size=size), 2).tolist()


def served_before(promotion: RegistryEvent, version, errors: list[float]) -> None:  # type: ignore[no-untyped-def]
    served_with_outcomes(version=version, errors=errors, served_at=promotion.created_at - dt.timedelta(hours=2))


def test_a_significantly_worse_champion_is_rolled_back_logged_and_alerted_once(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(1, 400, 1.5))
    served_with_outcomes(version=new, errors=errors(2, 200, 3.0))
    # Served by the previous champion long before the baseline window: not part of the comparison.
    served_with_outcomes(version=previous, errors=[40.0] * 50, served_at=promotion.created_at - dt.timedelta(hours=48))

    result = champion_watch_run(tenant=new.tenant)

    assert result is not None and result.restored == previous and result.decision.is_worse
    assert (result.decision.new_count, result.decision.previous_count) == (200, 400)
    model = new.registered_model
    assert alias_version(registered_model=model, alias=Alias.CHAMPION) == previous
    event = RegistryEvent.objects.get(kind=EventKind.AUTOMATIC_ROLLBACK)
    assert (event.from_version, event.to_version, event.actor) == (new, previous, "system:automatic-rollback")
    assert "one-sided Mann-Whitney p=" in event.reason and "on 200 outcomes" in event.reason
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.status, alert.tenant) == (
        AlertRule.ACCURACY_DEGRADATION,
        AlertSeverity.CRITICAL,
        AlertStatus.FIRING,
        new.tenant,
    )
    assert alert.subject == rollback_alert_subject(champion=new, previous=previous)
    assert alert.details["restored_version"] == previous.version and alert.details["decision"]["is_worse"]

    # Safe to run twice: the champion's last move is now the rollback, so there is nothing left to watch.
    assert champion_watch_run(tenant=new.tenant) is None
    assert RegistryEvent.objects.filter(kind=EventKind.AUTOMATIC_ROLLBACK).count() == 1
    assert alias_version(registered_model=model, alias=Alias.CHAMPION) == previous
    assert Alert.objects.get().occurrences == 1


def test_a_predecessor_whose_artifact_is_tampered_is_not_restored_and_the_alert_says_why(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(1, 400, 1.5))
    served_with_outcomes(version=new, errors=errors(2, 200, 3.0))
    tamper(previous)

    result = champion_watch_run(tenant=new.tenant)

    assert result is not None and result.decision.is_worse and result.restored is None
    assert alias_version(registered_model=new.registered_model, alias=Alias.CHAMPION) == new
    assert not RegistryEvent.objects.filter(kind=EventKind.AUTOMATIC_ROLLBACK).exists()
    alert = Alert.objects.get()
    assert (alert.rule, alert.severity, alert.status) == (
        AlertRule.ACCURACY_DEGRADATION,
        AlertSeverity.CRITICAL,
        AlertStatus.FIRING,
    )
    assert alert.summary.startswith(f"Automatic rollback of {new.registered_model} refused: {previous} cannot")
    assert "fails its checksum" in alert.details["refusal"]
    assert (alert.details["kept_champion_version"], alert.details["refused_restore_version"]) == (
        new.version,
        previous.version,
    )


def test_a_champion_as_good_as_its_predecessor_stays(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(3, 400, 2.0))
    served_with_outcomes(version=new, errors=errors(4, 300, 2.0))

    result = champion_watch_run(tenant=new.tenant)

    assert result is not None and result.restored is None and not result.decision.is_worse
    assert alias_version(registered_model=new.registered_model, alias=Alias.CHAMPION) == new
    assert not RegistryEvent.objects.filter(kind=EventKind.AUTOMATIC_ROLLBACK).exists()
    assert not Alert.objects.exists()


def test_too_few_outcomes_decide_nothing(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(5, 400, 1.0))
    served_with_outcomes(version=new, errors=[30.0] * 60)

    result = champion_watch_run(tenant=new.tenant)

    assert result is not None and result.restored is None and result.decision.p_value is None
    assert alias_version(registered_model=new.registered_model, alias=Alias.CHAMPION) == new


def test_nothing_is_watched_after_the_watch_period_a_first_champion_or_a_manual_rollback(promoted, settings) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(6, 400, 1.0))
    served_with_outcomes(version=new, errors=errors(7, 200, 4.0))
    settings.ROLLBACK_WATCH_HOURS = 24
    assert champion_watch_run(tenant=new.tenant, now=promotion.created_at + dt.timedelta(hours=25)) is None

    first_only = ModelVersionFactory()
    promote(first_only)
    assert champion_watch_run(tenant=first_only.tenant) is None

    champion_rollback(registered_model=new.registered_model, actor="oncall", reason="by hand")
    assert champion_watch_run(tenant=new.tenant) is None
    assert not RegistryEvent.objects.filter(kind=EventKind.AUTOMATIC_ROLLBACK).exists()


def test_the_registry_service_acts_only_while_the_watched_champion_still_serves(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, _ = promoted
    other = ModelVersionFactory(registered_model=new.registered_model)

    assert (
        champion_rollback_automatic(
            registered_model=new.registered_model, expected_champion=previous, restore=other, reason="stale check"
        )
        is None
    )
    assert (
        champion_rollback_automatic(
            registered_model=new.registered_model, expected_champion=new, restore=other, reason="not its predecessor"
        )
        is None
    )
    assert alias_version(registered_model=new.registered_model, alias=Alias.CHAMPION) == new
    assert not RegistryEvent.objects.filter(kind=EventKind.AUTOMATIC_ROLLBACK).exists()


def test_the_beat_task_watches_every_tenant_with_a_champion(promoted) -> None:  # type: ignore[no-untyped-def]
    previous, new, promotion = promoted
    served_before(promotion, previous, errors(8, 400, 1.5))
    served_with_outcomes(version=new, errors=errors(9, 200, 3.0))

    assert champion_watch_all_tenants_task() == [new.tenant_id]
    assert alias_version(registered_model=new.registered_model, alias=Alias.CHAMPION) == previous
