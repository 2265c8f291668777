"""simulate_traffic: recent history replayed as live traffic fills every monitoring page, on PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.choices import AlertRule
from monitoring.models import AccuracyReport, Alert, DriftReport
from monitoring.simulation import Shift, SimulationRefused, shift_parse, traffic_simulate
from predictions.choices import PredictionSource
from predictions.models import PredictionAudit, PredictionOutcome, ShadowPrediction
from predictions.outcomes import outcomes_import
from registry.choices import Alias
from registry.models import ModelAlias, ShadowEvaluation
from registry.tests.factories import ModelVersionFactory
from tenants.services import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_challenger(monitored):  # type: ignore[no-untyped-def]
    champion = monitored.version
    challenger = ModelVersionFactory(
        registered_model=champion.registered_model,
        artifact_path=champion.artifact_path,
        artifact_sha256=champion.artifact_sha256,
        lineage=champion.lineage,
    )
    ModelAlias.objects.create(
        tenant=monitored.tenant, registered_model=champion.registered_model, alias=Alias.CHALLENGER, version=challenger
    )
    return challenger


def test_a_simulated_jam_shift_produces_every_monitoring_record(monitored, with_challenger, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MONITORING_CHECK_MINUTES = 10
    settings.AB_EVALUATION_MINUTES = 60
    settings.SHADOW_SHARE = 0.5
    # The evening hours: the test history's busiest, so the drift reference matched to them is not thin.
    end = timezone.now().replace(hour=19, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    shift = Shift(column="traffic", level="jam", after=dt.timedelta(hours=1))

    result = traffic_simulate(tenant=monitored.tenant, hours=3, shift=shift, rate_per_minute=12, seed=3, end=end)

    audits = PredictionAudit.objects.filter(tenant=monitored.tenant)
    assert result.orders == audits.count() == audits.filter(source=PredictionSource.SIMULATION).count() > 0
    assert not audits.filter(created_at__lt=end - dt.timedelta(hours=3)).exists()
    assert not audits.filter(created_at__gt=end).exists()
    assert all(a.response["explanation"] is not None for a in audits[:20])
    outcomes = PredictionOutcome.objects.filter(tenant=monitored.tenant)
    assert result.outcomes == outcomes.count() > 0
    assert not outcomes.filter(reported_at__gt=end).exists()
    # The shift: jams are a larger share of the orders after it than before.
    before = audits.filter(created_at__lt=end - dt.timedelta(hours=2))
    after = audits.filter(created_at__gte=end - dt.timedelta(hours=2))
    share = lambda rows: rows.filter(order__traffic="jam").count() / rows.count()  # noqa: E731
    assert result.shifted_orders > 0 and share(after) > share(before)
    # Every page has something to show.
    drift = DriftReport.objects.filter(tenant=monitored.tenant, model_version=monitored.version)
    assert result.checks == 18 and drift.count() == 18
    assert drift.filter(is_drifted=True, drifted_features__contains=["traffic"]).exists()
    assert AccuracyReport.objects.filter(tenant=monitored.tenant, model_version=monitored.version, outcomes__gt=0)
    assert Alert.objects.filter(tenant=monitored.tenant, rule=AlertRule.DRIFT, pk__in=result.alerts).exists()
    assert ShadowPrediction.objects.filter(model_version=with_challenger).count() == result.shadow_predictions > 0
    evaluation = ShadowEvaluation.objects.filter(champion=monitored.version, challenger=with_challenger).last()
    assert evaluation is not None and evaluation.pairs > 0 and result.shadow_evaluations


def test_an_outcome_reported_for_a_simulated_order_is_refused_not_a_crash(monitored, client) -> None:  # type: ignore[no-untyped-def]
    # Simulated audits hold only the replayed columns; the simulation records their outcomes itself.
    end = timezone.now().replace(hour=19, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    traffic_simulate(tenant=monitored.tenant, hours=1, rate_per_minute=6, seed=4, end=end)
    outcomes_before = PredictionOutcome.objects.filter(tenant=monitored.tenant).count()
    unreported = (
        PredictionAudit.objects.filter(tenant=monitored.tenant)
        .exclude(pk__in=PredictionOutcome.objects.values("audit_id"))
        .values_list("order_id", flat=True)
    )
    order_ids = list(unreported[:3]) or list(PredictionAudit.objects.values_list("order_id", flat=True)[:3])
    path = io.StringIO("order_id,delivery_minutes\n" + "".join(f"{order_id},31.5\n" for order_id in order_ids))

    headers = {"Authorization": f"Api-Key {api_key_create(tenant=monitored.tenant, name='sim').raw_key}"}

    bulk = outcomes_import(tenant=monitored.tenant, rows=csv.DictReader(path))
    single = client.post(
        f"/api/v1/deliveries/{order_ids[0]}/outcome",
        {"delivery_minutes": 31.5},
        content_type="application/json",
        headers=headers,
    )

    assert (bulk.recorded, bulk.rejected) == (0, len(order_ids))
    assert all("no prediction was served" in rejection.message for rejection in bulk.rejections)
    assert single.status_code == 404 and single.json()["code"] == "unknown_order"
    assert PredictionOutcome.objects.filter(tenant=monitored.tenant).count() == outcomes_before


def test_without_a_champion_nothing_is_simulated(monitored) -> None:  # type: ignore[no-untyped-def]
    ModelAlias.objects.filter(tenant=monitored.tenant).delete()

    with pytest.raises(SimulationRefused, match="no champion"):
        traffic_simulate(tenant=monitored.tenant, hours=1)

    assert not PredictionAudit.objects.filter(tenant=monitored.tenant).exists()


@pytest.mark.parametrize("text", ["traffic", "courier_rating=5", "traffic=", "=jam"])
def test_a_shift_names_an_order_column_and_a_level(text: str) -> None:
    with pytest.raises(SimulationRefused, match="expected COLUMN=LEVEL"):
        shift_parse(text, after=dt.timedelta(hours=1))


def test_the_command_refuses_an_unknown_tenant() -> None:
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("simulate_traffic", tenant="nobody", hours=1, stdout=io.StringIO())
