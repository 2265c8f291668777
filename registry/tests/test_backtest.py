"""`backtest_model_version`: a real model replayed over real stored history, judged by an independent count."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from core.features import build_training_features
from core.model import ETAPredictor
from deliveries.selectors import deliveries_frame, deliveries_latest_id
from deliveries.tests.factories import DeliveryFactory
from registry.models import Backtest, ModelVersion
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def backtest(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest_model_version", *args, stdout=out)
    return out.getvalue()


def independent_metrics(tenant: Tenant, artifact: bytes, start: dt.date, end: dt.date) -> dict[str, dict[str, float]]:
    """Per-day metrics the slow way: the object-typed reader, features over the WHOLE history, a loop per day."""
    time_zone = ZoneInfo(tenant.time_zone)
    history = deliveries_frame(tenant=tenant)
    features = build_training_features(history, time_zone=time_zone)
    batch = ETAPredictor.from_bytes(artifact, expected_sha256=hashlib.sha256(artifact).hexdigest()).predict_frame(
        features
    )
    days = np.array([instant.astimezone(time_zone).date() for instant in history["ordered_at"]])
    actual = history["delivery_minutes"].to_numpy(dtype=float)
    low, high = batch.quantile("p05"), batch.quantile("p95")
    result = {}
    for day in sorted(set(days)):
        if not start <= day <= end:
            continue
        mask = days == day
        error = batch.eta_minutes[mask] - actual[mask]
        result[day.isoformat()] = {
            "rows": int(mask.sum()),
            "mae": float(np.mean(np.abs(error))),
            "bias": float(np.mean(error)),
            "within_5_min": float(np.mean(np.abs(error) <= 5.0)),
            "interval_coverage": float(np.mean((actual[mask] >= low[mask]) & (actual[mask] <= high[mask]))),
        }
    return result


def test_backtest_metrics_equal_an_independent_computation_on_the_same_rows(two_versions, trained_model) -> None:  # type: ignore[no-untyped-def]
    tenant, start, end = two_versions.tenant, two_versions.last_day - dt.timedelta(days=6), two_versions.last_day
    printed = backtest(f"{tenant.slug}/2", "--from", start.isoformat(), "--to", end.isoformat())

    stored = Backtest.objects.get(version=two_versions.candidate)
    expected = independent_metrics(tenant, trained_model.artifact, start, end)
    assert [day["day"] for day in stored.days] == list(expected) and len(expected) == 7
    for day in stored.days:
        assert {name: day[name] for name in expected[day["day"]]} == pytest.approx(expected[day["day"]], rel=1e-9)
    assert stored.overall["rows"] == sum(day["rows"] for day in expected.values())
    assert stored.data_cut["rows_replayed"] == stored.overall["rows"]
    assert stored.data_cut["delivery_id_at_most"] == deliveries_latest_id(tenant=tenant)
    assert f"{stored.overall['mae']:.4f}" in printed and printed.count("\n") == 7 + 3


def test_a_planted_future_row_changes_no_earlier_day(two_versions) -> None:  # type: ignore[no-untyped-def]
    tenant, end = two_versions.tenant, two_versions.last_day - dt.timedelta(days=1)
    start = end - dt.timedelta(days=4)
    before = backtest(f"{tenant.slug}/2", "--from", start.isoformat(), "--to", end.isoformat(), "--json")
    # A busy courier's delivery on the next day, very slow: it would move that courier's history features
    # (and so the predictions) of any earlier order that could see it.
    courier = deliveries_frame(tenant=tenant)["courier_id"].value_counts().index[0]
    ordered_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0, 30), tzinfo=ZoneInfo(tenant.time_zone))
    DeliveryFactory(
        tenant=tenant,
        external_order_id="planted-future",
        courier_id=courier,
        ordered_at=ordered_at,
        picked_at=ordered_at + dt.timedelta(minutes=5),
        delivery_minutes=90.0,
    )
    after = backtest(f"{tenant.slug}/2", "--from", start.isoformat(), "--to", (end + dt.timedelta(days=1)).isoformat())

    first, second = Backtest.objects.filter(version=two_versions.candidate).order_by("id")
    assert json.loads(before)[0]["days"] == first.days
    assert second.days[: len(first.days)] == first.days  # every earlier day bit for bit
    assert second.days[-1]["day"] == (end + dt.timedelta(days=1)).isoformat()
    assert second.data_cut["delivery_id_at_most"] > first.data_cut["delivery_id_at_most"]
    assert "overall" in after


def test_with_champion_backtests_both_versions_on_the_same_days(two_versions) -> None:  # type: ignore[no-untyped-def]
    tenant, end = two_versions.tenant, two_versions.last_day
    start = end - dt.timedelta(days=2)
    printed = json.loads(
        backtest("2", "--tenant", tenant.slug, "--from", str(start), "--to", str(end), "--with-champion", "--json")
    )

    candidate, champion = (
        Backtest.objects.get(version=version) for version in (two_versions.candidate, two_versions.champion)
    )
    assert [entry["id"] for entry in printed] == [candidate.pk, champion.pk]
    assert [day["day"] for day in candidate.days] == [day["day"] for day in champion.days]
    assert candidate.overall["rows"] == champion.overall["rows"]
    assert candidate.overall["mae"] != champion.overall["mae"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["99", "--from", "2022-02-14", "--to", "2022-02-15"], "no ETA model version '99'"),
        (["2", "--from", "2022-02-15", "--to", "2022-02-14"], "--from 2022-02-15 is after --to 2022-02-14"),
        (["2", "--from", "2001-01-01", "--to", "2001-01-02"], "is outside the stored history"),
        (["2", "--from", "FIRST", "--to", "2099-01-01"], "is outside the stored history"),
        (["2", "--from", "yesterday", "--to", "2022-02-15"], "expected a date YYYY-MM-DD, got 'yesterday'"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_store_nothing(two_versions, arguments, message) -> None:  # type: ignore[no-untyped-def]
    arguments = [two_versions.first_day.isoformat() if value == "FIRST" else value for value in arguments]
    with pytest.raises(CommandError, match=message):
        backtest(*arguments, "--tenant", two_versions.tenant.slug)
    assert not Backtest.objects.exists()


def test_days_the_version_was_trained_on_are_flagged(two_versions) -> None:  # type: ignore[no-untyped-def]
    version, time_zone = two_versions.candidate, ZoneInfo(two_versions.tenant.time_zone)
    evaluation_start = dt.datetime.combine(two_versions.last_day - dt.timedelta(days=1), dt.time(9), tzinfo=time_zone)
    ModelVersion.objects.filter(pk=version.pk).update(
        lineage={"data": {"evaluation_start": evaluation_start.isoformat()}}
    )
    start = two_versions.last_day - dt.timedelta(days=3)
    printed = backtest(f"{two_versions.tenant.slug}/2", "--from", str(start), "--to", str(two_versions.last_day))

    stored = Backtest.objects.get(version=version)
    assert [day["is_in_training"] for day in stored.days] == [True, True, True, False]
    assert printed.count("(in training)") == 3


def test_backtests_are_append_only(two_versions) -> None:  # type: ignore[no-untyped-def]
    from intellilog.append_only import AppendOnlyError

    backtest(f"{two_versions.tenant.slug}/2", "--from", str(two_versions.last_day), "--to", str(two_versions.last_day))
    with pytest.raises(AppendOnlyError):
        Backtest.objects.get().delete()
