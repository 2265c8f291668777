"""Bulk outcomes (`import_outcomes`, POST /api/v1/deliveries/outcomes) feed realized accuracy like single reports.

Here, beside the accuracy checks, because what proves a bulk file right is that it moves the accuracy report
and raises the alert exactly as the same outcomes reported one by one would.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deliveries.models import Delivery
from monitoring.choices import AlertRule, AlertStatus, CheckStatus
from monitoring.live.accuracy import realized_accuracy_check
from monitoring.live.windows import check_instant
from monitoring.models import Alert
from predictions.models import PredictionAudit, PredictionOutcome
from predictions.orders import OrderInput
from predictions.outcomes import _outcomes_record_row_by_row, outcomes_import
from predictions.services import prediction_outcome_record
from tenants.services import api_key_create

from .conftest import Monitored, audits_create, recent_vectors

pytestmark = pytest.mark.django_db

BULK = "/api/v1/deliveries/outcomes"


def predicted_orders(monitored: Monitored, count: int, *, seed: int = 0) -> list[PredictionAudit]:
    """`count` audited predictions of orders placed an hour ago, each with the full order the API would store."""
    ordered_at = timezone.now() - dt.timedelta(hours=1)
    orders = [
        OrderInput(
            order_id=f"bulk-{seed}-{i}",
            courier_id=f"courier-{i % 7}",
            ordered_at=ordered_at,
            picked_at=ordered_at + dt.timedelta(minutes=10),
            pickup_latitude=22.74,
            pickup_longitude=75.89,
            drop_latitude=22.76,
            drop_longitude=75.91,
            distance_km=None,
            has_usable_coordinates=True,
            weather="Sunny",
            traffic="High",
            vehicle="motorcycle",
            area="Urban",
            courier_age=30.0,
            courier_rating=4.7,
        ).as_json()
        for i in range(count)
    ]
    return audits_create(monitored, recent_vectors(monitored, count, seed=seed), end=timezone.now(), orders=orders)


def write_outcomes(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["order_id", "delivery_minutes", "delivered_at", "picked_at"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def late_by(audits: list[PredictionAudit], minutes: float) -> list[dict[str, object]]:
    """Outcomes `minutes` longer than predicted: the ETAs were too short by that much."""
    return [{"order_id": a.order_id, "delivery_minutes": round(a.predicted_eta_minutes + minutes, 3)} for a in audits]


def test_a_bulk_file_moves_the_accuracy_report_and_raises_the_alert(monitored, tmp_path) -> None:  # type: ignore[no-untyped-def]
    audits = predicted_orders(monitored, 200)
    window_end = check_instant(timezone.now() + dt.timedelta(minutes=1))
    before = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=window_end)
    assert before.status == CheckStatus.INSUFFICIENT_DATA and before.outcomes == 0

    out = io.StringIO()
    path = write_outcomes(tmp_path / "outcomes.csv", late_by(audits, 12.0))
    call_command("import_outcomes", str(path), tenant=monitored.tenant.slug, stdout=out)

    assert "200 rows, 200 outcomes recorded (200 predictions joined), 0 repeats, 0 rejected" in out.getvalue()
    after = realized_accuracy_check(
        tenant=monitored.tenant, version=monitored.version, window_end=window_end + dt.timedelta(minutes=1)
    )
    assert after.status == CheckStatus.OK and after.outcomes == 200
    assert after.mae == pytest.approx(12.0, abs=1e-3) and after.mean_error == pytest.approx(-12.0, abs=1e-3)
    assert after.is_degraded
    alert = Alert.objects.get(rule=AlertRule.ACCURACY_DEGRADATION, status=AlertStatus.FIRING)
    assert alert.tenant == monitored.tenant and after.alert == alert
    # The outcomes are training history too: each order is a stored delivery with its actual time.
    assert Delivery.objects.filter(tenant=monitored.tenant, external_order_id__startswith="bulk-0-").count() == 200


def test_importing_the_same_file_again_counts_repeats_and_a_changed_value_is_a_row_conflict(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = predicted_orders(monitored, 5)
    rows = late_by(audits, 2.0)
    first = outcomes_import(tenant=monitored.tenant, rows=rows)
    stored = list(PredictionOutcome.objects.order_by("pk").values_list("pk", "actual_minutes"))

    again = outcomes_import(tenant=monitored.tenant, rows=[*rows[:4], {**rows[4], "delivery_minutes": 99.0}])

    assert (first.recorded, first.repeats, first.rejected) == (5, 0, 0)
    assert (again.rows, again.recorded, again.repeats, again.rejected) == (5, 0, 4, 1)
    [conflict] = again.rejections
    assert (conflict.row, conflict.order_id, conflict.field) == (5, audits[4].order_id, "delivery_minutes")
    assert "already has an outcome of" in conflict.message
    assert list(PredictionOutcome.objects.order_by("pk").values_list("pk", "actual_minutes")) == stored


def test_each_bad_row_is_reported_with_the_single_outcomes_rules_and_the_good_rows_are_stored(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = predicted_orders(monitored, 6)
    ids = [audit.order_id for audit in audits]
    rows: list[dict[str, object]] = [
        {"order_id": ids[0], "delivery_minutes": "31.5"},
        {"order_id": "never-predicted", "delivery_minutes": 30},
        {"order_id": ids[1], "delivery_minutes": 0.2},  # implausible: below the plausibility range
        {"order_id": ids[2], "delivered_at": "2026-01-01T10:00:00"},  # no UTC offset
        {"order_id": ids[3], "delivery_minutes": "soon"},
        {"order_id": ids[4], "delivery_minutes": 20},
        {"order_id": ids[4], "delivery_minutes": 21},  # the same order twice, two values: both refused
        {"order_id": ids[5], "delivery_minutes": 25},
        {"order_id": ids[5], "delivery_minutes": 25},  # the same value twice: one outcome and a repeat
        {"order_id": "", "delivery_minutes": 25},
    ]

    result = outcomes_import(tenant=monitored.tenant, rows=rows, chunk_size=3)

    assert result.rows == len(rows) == result.recorded + result.repeats + result.rejected
    assert (result.recorded, result.repeats) == (2, 1)
    by_row = {rejection.row: (rejection.field, rejection.message) for rejection in result.rejections}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 10]
    assert by_row[2] == ("order_id", "no prediction was served for order 'never-predicted'")
    assert by_row[3][0] == "delivery_minutes" and "delivery_minutes:" in by_row[3][1]
    assert by_row[4] == ("delivered_at", "'2026-01-01T10:00:00' has no UTC offset")
    assert by_row[5] == ("delivery_minutes", "expected a number, got 'soon'")
    assert by_row[6][0] == by_row[7][0] == "delivery_minutes" and "more than once" in by_row[6][1]
    assert by_row[10] == ("order_id", "required")
    stored = dict(
        Delivery.objects.filter(tenant=monitored.tenant, import_batch=None).values_list(
            "external_order_id", "delivery_minutes"
        )
    )
    assert stored == {ids[0]: 31.5, ids[5]: 25.0}


def test_a_bulk_row_stores_exactly_what_a_single_report_of_the_same_order_stores(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = predicted_orders(monitored, 8)
    one, other = audits[0], audits[7]  # the same order (courier, place, time) under two order ids

    outcomes_import(tenant=monitored.tenant, rows=[{"order_id": one.order_id, "delivery_minutes": 27.25}])
    prediction_outcome_record(tenant=monitored.tenant, order_id=other.order_id, delivery_minutes=27.25)

    ignored = {"id", "external_order_id"}
    bulk, single = (
        {k: v for k, v in Delivery.objects.filter(external_order_id=oid).values().get().items() if k not in ignored}
        for oid in (one.order_id, other.order_id)
    )
    assert bulk == single


@pytest.mark.parametrize("chunk_size", [1, 4, 10_000])
def test_the_chunk_size_changes_nothing_stored(monitored, chunk_size: int) -> None:  # type: ignore[no-untyped-def]
    audits = predicted_orders(monitored, 9, seed=chunk_size)
    rows = late_by(audits, 3.0)

    result = outcomes_import(tenant=monitored.tenant, rows=[*rows, rows[0]], chunk_size=chunk_size)

    assert (result.recorded, result.predictions_joined, result.repeats) == (9, 9, 1)
    errors = PredictionOutcome.objects.filter(tenant=monitored.tenant).values_list("error_minutes", flat=True)
    assert sorted(errors) == pytest.approx([-3.0] * 9, abs=1e-3)


def test_the_api_reports_per_row_and_refuses_a_malformed_batch_whole(monitored, client, settings) -> None:  # type: ignore[no-untyped-def]
    key = api_key_create(tenant=monitored.tenant, name="bulk").raw_key
    headers = {"Authorization": f"Api-Key {key}"}
    audits = predicted_orders(monitored, 3)
    body = {"outcomes": [*late_by(audits, 1.0), {"order_id": "nope", "delivery_minutes": 20}]}

    answer = client.post(BULK, body, content_type="application/json", headers=headers)

    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert (report["rows"], report["recorded"], report["predictions_joined"], report["rejected"]) == (4, 3, 3, 1)
    assert report["rejections"] == [
        {"row": 4, "order_id": "nope", "field": "order_id", "message": "no prediction was served for order 'nope'"}
    ]
    assert client.post(BULK, body, content_type="application/json", headers=headers).json()["repeats"] == 3

    settings_limit = settings.PREDICTION_BATCH_MAX_ORDERS
    too_many = {"outcomes": [{"order_id": f"x{i}", "delivery_minutes": 20} for i in range(settings_limit + 1)]}
    count = PredictionOutcome.objects.count()
    for malformed in (too_many, {"outcomes": "all of them"}, {"outcomes": []}, {}):
        refused = client.post(BULK, malformed, content_type="application/json", headers=headers)
        assert refused.status_code == 400 and "outcomes" in refused.content.decode()
    assert PredictionOutcome.objects.count() == count


def test_a_file_without_an_order_id_column_imports_nothing(monitored, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text("order,minutes\na,3\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_outcomes", str(path), tenant=monitored.tenant.slug)


def test_any_rows_are_judged_without_an_error_and_the_counts_add_up(monitored) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    order_ids = [audit.order_id for audit in predicted_orders(monitored, 4, seed=9)]
    value = st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=1, max_value=300),
        st.text(max_size=12),
        st.booleans(),
        st.sampled_from(["2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00", "yesterday", ""]),
    )
    row = st.fixed_dictionaries(
        {"order_id": st.one_of(st.sampled_from(order_ids), st.text(max_size=8))},
        optional={name: value for name in ("delivery_minutes", "delivered_at", "picked_at", "driver_age")},
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(row, max_size=12), chunk_size=st.integers(min_value=1, max_value=5))
    def judged(rows: list[dict[str, object]], chunk_size: int) -> None:
        stored_before = Delivery.objects.filter(tenant=monitored.tenant).count()
        result = outcomes_import(tenant=monitored.tenant, rows=rows, chunk_size=chunk_size)
        assert result.rows == len(rows) == result.recorded + result.repeats + result.rejected
        assert Delivery.objects.filter(tenant=monitored.tenant).count() == stored_before + result.recorded
        assert {rejection.row for rejection in result.rejections} <= set(range(1, len(rows) + 1))
        again = outcomes_import(tenant=monitored.tenant, rows=rows, chunk_size=chunk_size)
        assert again.recorded == 0  # whatever was stored is a repeat (or, for rows that disagree, a conflict) now

    judged()


def test_the_row_by_row_path_of_the_sqlite_quickstart_judges_rows_as_the_copy_path_does(monitored) -> None:  # type: ignore[no-untyped-def]
    def rows_for(audits: list[PredictionAudit]) -> list[dict[str, object]]:
        ids = [audit.order_id for audit in audits]
        return [
            {"order_id": ids[0], "delivery_minutes": "31.5"},
            {"order_id": "never-predicted", "delivery_minutes": 30},
            {"order_id": ids[1], "delivery_minutes": 0.2},
            {"order_id": ids[2], "delivered_at": "2026-01-01T10:00:00"},
            {"order_id": ids[3], "delivery_minutes": "soon"},
            {"order_id": ids[4], "delivery_minutes": 25},
            {"order_id": ids[4], "delivery_minutes": 25},
            {"order_id": "", "delivery_minutes": 25},
        ]

    copied = outcomes_import(tenant=monitored.tenant, rows=rows_for(predicted_orders(monitored, 5, seed=1)))
    one_by_one = _outcomes_record_row_by_row(
        tenant=monitored.tenant, rows=rows_for(predicted_orders(monitored, 5, seed=2))
    )

    def counts(result):  # type: ignore[no-untyped-def]
        return (result.rows, result.recorded, result.predictions_joined, result.repeats, result.rejected)

    assert counts(one_by_one) == counts(copied) == (8, 2, 2, 1, 5)
    assert [(r.row, r.field) for r in one_by_one.rejections] == [(r.row, r.field) for r in copied.rejections]
    assert Delivery.objects.filter(tenant=monitored.tenant, external_order_id__startswith="bulk-2-").count() == 2
