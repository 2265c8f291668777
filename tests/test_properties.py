"""Invariants of every entrance, found by Hypothesis rather than by a user (issue 11).

For bodies of the prediction API (single and batch), outcome reports and importer rows drawn from
strategies that mix valid values with the hostile ones probes used (years 1 and 9999, booleans, NaN,
deep or oversized values, unknown fields):

- every answer is JSON with a ``code`` when it is not a success, and never a 5xx;
- nothing is written on a 4xx (audit, outcomes and deliveries are counted);
- whatever was stored can afterwards be read for training, materialised, and replayed.

Examples are few and shrinking is off, so the suite stays quick; failures print their example.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.delivery.plausibility import instant_problems
from core.features import build_training_features
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame
from features.services import features_materialize
from predictions.models import PredictionAudit, PredictionOutcome
from predictions.services import prediction_replay
from predictions.tests.test_api import order_body

pytestmark = pytest.mark.django_db(transaction=True)

FEW = settings(
    max_examples=25,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# Values a careless integrator or an attacker sends in place of any field.
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
offsets = st.sampled_from(["+00:00", "+05:30", "-11:00", "Z", ""])
instants = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
    st.datetimes(min_value=dt.datetime(2021, 1, 1), max_value=dt.datetime(2027, 1, 1)).map(lambda d: d.isoformat()),
)
stamped = st.tuples(instants, offsets).map("".join)


@st.composite
def order_bodies(draw: st.DrawFn) -> dict[str, object]:
    """A valid order with some fields replaced by junk or hostile instants, some dropped, maybe extra fields."""
    body = order_body(order_id=draw(st.text(min_size=1, max_size=12)))
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=3, unique=True)):
        body[name] = draw(st.one_of(junk, stamped))
    for name in ("ordered_at", "picked_at"):
        if draw(st.booleans()):
            body[name] = draw(stamped)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    return body


outcome_bodies = st.fixed_dictionaries(
    {},
    optional={
        "delivery_minutes": st.one_of(junk, st.floats(min_value=-10, max_value=10_000)),
        "delivered_at": st.one_of(junk, stamped),
        "picked_at": st.one_of(junk, stamped),
        "driver_age": st.one_of(junk, st.integers(0, 100)),
        "extra": junk,
    },
)


def counts() -> tuple[int, int, int]:
    return PredictionAudit.objects.count(), PredictionOutcome.objects.count(), Delivery.objects.count()


def assert_answer(response, before: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json")
        assert isinstance(response.json()["code"], str)
        assert counts() == before, "a refused request wrote something"


def assert_stored_history_is_usable(tenant) -> None:  # type: ignore[no-untyped-def]
    """Every stored delivery is plausible, and the tenant's history trains, materialises and replays."""
    now = dt.datetime.now(dt.UTC)
    for delivery in Delivery.objects.filter(tenant=tenant):
        assert not instant_problems(
            ordered_at=delivery.ordered_at, picked_at=delivery.picked_at, now=now, is_completed=True
        ), delivery.external_order_id
    build_training_features(deliveries_frame(tenant=tenant), time_zone=ZoneInfo(tenant.time_zone))
    features_materialize(tenant=tenant)
    for audit in PredictionAudit.objects.filter(tenant=tenant):
        assert prediction_replay(audit=audit).differences == []


def test_prediction_and_outcome_bodies_never_5xx_and_stored_rows_stay_usable(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    api = Client(HTTP_AUTHORIZATION=f"Api-Key {serving_tenant.client.raw_key}", raise_request_exception=False)

    @FEW
    @given(body=order_bodies(), batch=st.lists(order_bodies(), min_size=1, max_size=3), outcome=outcome_bodies)
    def check(body: dict[str, object], batch: list[dict[str, object]], outcome: dict[str, object]) -> None:
        payload = json.dumps(body, allow_nan=True)
        before = counts()
        assert_answer(api.generic("POST", "/api/v1/predictions/eta", payload, content_type="application/json"), before)
        before = counts()
        batch_payload = json.dumps({"orders": batch}, allow_nan=True)
        assert_answer(
            api.generic("POST", "/api/v1/predictions/eta/batch", batch_payload, content_type="application/json"),
            before,
        )
        order_id = PredictionAudit.objects.values_list("order_id", flat=True).last() or "none"
        before = counts()
        url = f"/api/v1/deliveries/{order_id}/outcome"
        assert_answer(api.generic("POST", url, json.dumps(outcome, allow_nan=True), "application/json"), before)

    check()
    assert_stored_history_is_usable(serving_tenant.client.tenant)


HEADER = (
    "order_id,courier_id,courier_age,courier_rating,store_latitude,store_longitude,drop_latitude,drop_longitude,"
    "order_date,order_time,pickup_time,weather,traffic,vehicle,area,delivery_minutes"
)
dates = st.one_of(
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(str),
    st.dates(min_value=dt.date(2022, 2, 1), max_value=dt.date(2022, 4, 1)).map(str),
    st.text(max_size=10),
)
clock = st.one_of(st.times().map(lambda t: t.strftime("%H:%M:%S")), st.text(max_size=8))


@st.composite
def importer_rows(draw: st.DrawFn) -> str:
    index = draw(st.integers(0, 10**9))
    fields = [
        f"prop-{index}",
        "INDORES13DEL02",
        str(draw(st.one_of(st.integers(15, 50), st.integers(-5, 200)))),
        "4.9",
        "22.745049",
        "75.892471",
        "22.765049",
        "75.912471",
        draw(dates),
        draw(clock),
        draw(clock),
        "Sunny",
        "High",
        "motorcycle",
        "Urban",
        str(draw(st.one_of(st.integers(10, 60), st.integers(-100, 100_000)))),
    ]
    return ",".join(field.replace(",", " ").replace("\n", " ").replace("\r", " ") for field in fields)


def test_imported_rows_of_any_date_leave_a_history_that_trains_and_materialises(tmp_path: Path) -> None:
    from tenants.tests.factories import TenantFactory

    tenant = TenantFactory()

    @FEW
    @given(rows=st.lists(importer_rows(), min_size=1, max_size=5))
    def check(rows: list[str]) -> None:
        path = tmp_path / "rows.csv"
        path.write_text("\n".join([HEADER, *rows]) + "\n")
        with contextlib.suppress(CommandError):  # a refused file is fine; any other error fails the test
            call_command("import_deliveries", str(path), tenant=tenant.slug, stdout=io.StringIO())
        assert_stored_history_is_usable(tenant)

    check()
