"""The plausible-instant rules: examples at their edges, and the scalar and vectorised forms agreeing (no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.delivery.plausibility import (
    CLOCK_SKEW,
    FIELDS,
    MAX_PICKUP_WAIT,
    ORDER_MAX_AGE,
    ORDER_MAX_LEAD,
    implausible_instants,
    instant_problems,
    order_window,
)
from core.delivery.schema import normalize_row
from core.tests.delivery.rows import raw_row

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")


def fields(**instants: object) -> list[str]:
    return [problem.field for problem in instant_problems(now=NOW, **instants)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "ordered_at",
    [
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2262, 6, 1, tzinfo=dt.UTC),
        dt.datetime(1600, 1, 1, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, tzinfo=KOLKATA),  # its UTC time is before year 1: compared without overflowing
        NOW - ORDER_MAX_AGE - dt.timedelta(seconds=1),
        NOW + ORDER_MAX_LEAD + dt.timedelta(seconds=1),
    ],
)
def test_orders_far_from_now_are_implausible(ordered_at: dt.datetime) -> None:
    assert fields(ordered_at=ordered_at, is_completed=False) == ["ordered_at"]


def test_a_completed_delivery_cannot_be_ordered_in_the_future_an_order_to_predict_can() -> None:
    next_month = NOW + dt.timedelta(days=30)
    assert fields(ordered_at=next_month, is_completed=False) == []
    assert fields(ordered_at=next_month, is_completed=True) == ["ordered_at"]
    assert fields(ordered_at=NOW + CLOCK_SKEW, is_completed=True) == []
    assert order_window(now=NOW, is_completed=True) == (NOW - ORDER_MAX_AGE, NOW + CLOCK_SKEW)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        (dt.timedelta(0), []),
        (MAX_PICKUP_WAIT, []),
        (MAX_PICKUP_WAIT + dt.timedelta(seconds=1), ["picked_at"]),
        (dt.timedelta(days=30), ["picked_at"]),
        (dt.timedelta(seconds=-1), ["picked_at"]),
        (dt.timedelta(days=365 * 7000), ["picked_at"]),  # year 9000: said without subtracting across millennia
    ],
)
def test_a_pickup_lies_within_six_hours_after_its_order(wait: dt.timedelta, expected: list[str]) -> None:
    ordered_at = dt.datetime(2022, 3, 19, 11, 30, tzinfo=KOLKATA)
    assert fields(ordered_at=ordered_at, picked_at=ordered_at + wait, is_completed=True) == expected


def test_a_pickup_is_not_judged_against_an_implausible_order_and_a_duration_is_judged_alone() -> None:
    far = dt.datetime(2262, 6, 1, tzinfo=dt.UTC)
    assert fields(ordered_at=far, picked_at=far + dt.timedelta(days=3), is_completed=True) == ["ordered_at"]
    assert fields(ordered_at=None, delivery_minutes=0.5, is_completed=True) == ["delivery_minutes"]
    assert fields(ordered_at=None, delivery_minutes=float("nan"), is_completed=True) == []


def test_reasons_name_the_rule_and_the_value() -> None:
    [problem] = instant_problems(ordered_at=dt.datetime(2262, 6, 1, tzinfo=dt.UTC), now=NOW, is_completed=True)
    assert "2262-06-01T00:00:00+00:00 is implausible" in problem.reason
    assert "2006-" in problem.reason and "2026-11-28" in problem.reason
    ordered_at = dt.datetime(2022, 3, 19, 11, 30, tzinfo=KOLKATA)
    [pickup] = instant_problems(
        ordered_at=ordered_at, picked_at=ordered_at + dt.timedelta(hours=8), now=NOW, is_completed=True
    )
    assert pickup.reason == "pickup 8:00:00 after the order: a pickup must be 0:00:00..6:00:00 after the order"


def test_the_importer_refuses_rows_dated_outside_the_window_naming_the_column_never_crashing() -> None:
    for order_date in ("2262-04-12", "1600-01-01", "9999-12-31", "0001-01-01"):
        # A pickup clock time before the order's moves to the next day, which 9999-12-31 does not have.
        result = normalize_row(
            raw_row(order_date=order_date, order_time="23:50:00", pickup_time="00:05:00"),
            line_number=2,
            time_zone=KOLKATA,
            now=NOW,
        )
        assert result.delivery is None
        assert [error.column for error in result.errors] == ["order_date"], order_date


def test_a_batch_file_of_orders_to_predict_may_be_scheduled_ahead_a_history_file_may_not() -> None:
    ahead = (NOW + dt.timedelta(days=40)).date().isoformat()
    row = raw_row(order_date=ahead)
    assert normalize_row(row, line_number=2, time_zone=KOLKATA, now=NOW).errors[0].column == "order_date"
    assert normalize_row(row, line_number=2, time_zone=KOLKATA, now=NOW, outcome_required=False).errors == []


# --- the two forms are one rule -------------------------------------------------------------------------------

_instants = st.datetimes(
    min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2250, 1, 1), timezones=st.just(dt.UTC)
)
_near_now = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
)
_waits = st.one_of(
    st.none(),
    st.timedeltas(min_value=dt.timedelta(hours=-2), max_value=dt.timedelta(hours=9)),
    st.timedeltas(min_value=dt.timedelta(days=-400), max_value=dt.timedelta(days=400)),
)
_minutes = st.one_of(st.none(), st.floats(min_value=-10, max_value=400, allow_nan=False))
_rows = st.lists(st.tuples(st.one_of(_instants, _near_now), _waits, _minutes), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows=_rows, is_completed=st.booleans())
def test_scalar_and_vectorised_forms_flag_the_same_fields(
    rows: list[tuple[dt.datetime, dt.timedelta | None, float | None]], is_completed: bool
) -> None:
    ordered = pd.Series([ordered for ordered, _, _ in rows])
    picked = pd.Series([None if wait is None else ordered + wait for ordered, wait, _ in rows], dtype=ordered.dtype)
    minutes = pd.Series([float("nan") if value is None else value for _, _, value in rows], dtype="float64")

    flags = implausible_instants(ordered, picked, minutes, now=NOW, is_completed=is_completed)

    assert list(flags.columns) == list(FIELDS)
    for index, (ordered_at, wait, value) in enumerate(rows):
        scalar = instant_problems(
            ordered_at=ordered_at,
            picked_at=None if wait is None else ordered_at + wait,
            delivery_minutes=value,
            now=NOW,
            is_completed=is_completed,
        )
        assert {problem.field for problem in scalar} == {name for name in FIELDS if flags.at[index, name]}


def test_the_vectorised_form_counts_a_missing_order_time_as_implausible() -> None:
    ordered = pd.Series(pd.to_datetime(["2022-03-19T06:00:00Z", "2262-05-01T00:00:00Z"], utc=True, errors="coerce"))
    ordered[1] = pd.NaT
    flags = implausible_instants(ordered, now=NOW, is_completed=True)
    assert flags["ordered_at"].tolist() == [False, True]
    assert not flags["picked_at"].any() and not flags["delivery_minutes"].any()
