"""When an order, pickup and delivery instant is plausible: one rule per field (plain Python, no Django).

Every entrance that stores or serves a delivery checks its instants here (the prediction API and its batch
files, outcome reports, the importer), and every reader of stored history skips rows that break the rule,
so whatever is stored can be trained on, materialised, monitored and replayed. pandas holds nanosecond
timestamps between 1677 and 2262 only: one row dated 9999, or a pickup a month after its order, used to
crash every later training of its tenant.

The rules, relative to ``now``:

- ``ordered_at``: no earlier than `ORDER_MAX_AGE` (20 years) before now; no later than `CLOCK_SKEW` (1 day)
  after now for a completed delivery (imported or reported), or `ORDER_MAX_LEAD` (1 year) for an order to
  predict, which may be scheduled ahead.
- ``picked_at``: at or after the order, at most `MAX_PICKUP_WAIT` (6 h) after it (the importer's rule).
- ``delivery_minutes`` (the delivery instant is ``ordered_at`` plus it): within `DELIVERY_MINUTES_RANGE`.

Two forms of the same rules, built on the same bounds (`order_window`):

- `instant_problems`: one delivery's instants (scalar), each problem as an `Implausible` naming its field and
  saying why in words. For the API and for the messages of rejected rows.
- `implausible_instants`: whole columns at once (pandas Series), a boolean per field and row; for chunked
  importers and readers. Call `instant_problems` on the flagged rows only to say why.

A pickup is judged only against a plausible order; a delivery duration on its own. Times must be aware.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

ORDER_MAX_AGE = dt.timedelta(days=20 * 365 + 5)  # 20 years, leap days included
ORDER_MAX_LEAD = dt.timedelta(days=366)
# A completed delivery's clock (the tenant's systems, its time zone) may run this far ahead of ours.
CLOCK_SKEW = dt.timedelta(days=1)
# A pickup more than this long after the order is a data error, not a slow kitchen.
MAX_PICKUP_WAIT = dt.timedelta(hours=6)
DELIVERY_MINUTES_RANGE = (1.0, 300.0)

FIELDS = ("ordered_at", "picked_at", "delivery_minutes")


@dataclass(frozen=True)
class Implausible:
    """Why one instant of a delivery is not plausible; ``field`` is one of `FIELDS`."""

    field: str
    reason: str


def order_window(*, now: dt.datetime, is_completed: bool) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and the latest plausible ``ordered_at`` (both included) at ``now``."""
    return now - ORDER_MAX_AGE, now + (CLOCK_SKEW if is_completed else ORDER_MAX_LEAD)


def _order_reason(ordered_at: dt.datetime, earliest: dt.datetime, latest: dt.datetime, is_completed: bool) -> str:
    what = "a completed delivery's order" if is_completed else "an order"
    return (
        f"{ordered_at.isoformat()} is implausible: {what} must lie between {earliest:%Y-%m-%d %H:%M} and "
        f"{latest:%Y-%m-%d %H:%M} UTC"
    )


def _is_pickup_plausible(ordered_at: dt.datetime, picked_at: dt.datetime) -> bool:
    return abs(picked_at.year - ordered_at.year) <= 1 and ordered_at <= picked_at <= ordered_at + MAX_PICKUP_WAIT


def _pickup_reason(ordered_at: dt.datetime, picked_at: dt.datetime) -> str:
    rule = f"a pickup must be 0:00:00..{MAX_PICKUP_WAIT} after the order"
    if abs(picked_at.year - ordered_at.year) > 1:
        return f"pickup {picked_at.isoformat()} for an order of {ordered_at.isoformat()}: {rule}"
    wait = picked_at - ordered_at
    when = f"{-wait} before" if wait < dt.timedelta(0) else f"{wait} after"
    return f"pickup {when} the order: {rule}"


def instant_problems(
    *,
    ordered_at: dt.datetime | None,
    picked_at: dt.datetime | None = None,
    delivery_minutes: float | None = None,
    now: dt.datetime,
    is_completed: bool,
) -> list[Implausible]:
    """Every rule one delivery's instants break (empty: plausible); None (or a NaN duration) means not given."""
    problems: list[Implausible] = []
    if ordered_at is not None:
        earliest, latest = order_window(now=now, is_completed=is_completed)
        # Compared by year first: comparing aware times of year 1 or 9999 can overflow their UTC conversion.
        is_near = earliest.year - 1 <= ordered_at.year <= latest.year + 1
        if not (is_near and earliest <= ordered_at <= latest):
            problems.append(Implausible("ordered_at", _order_reason(ordered_at, earliest, latest, is_completed)))
        elif picked_at is not None and not _is_pickup_plausible(ordered_at, picked_at):
            problems.append(Implausible("picked_at", _pickup_reason(ordered_at, picked_at)))
    low, high = DELIVERY_MINUTES_RANGE
    if delivery_minutes is not None and not math.isnan(delivery_minutes) and not low <= delivery_minutes <= high:
        problems.append(Implausible("delivery_minutes", f"{delivery_minutes:g} outside {low:g}..{high:g}"))
    return problems


def implausible_instants(
    ordered_at: pd.Series,
    picked_at: pd.Series | None = None,
    delivery_minutes: pd.Series | None = None,
    *,
    now: dt.datetime,
    is_completed: bool,
) -> pd.DataFrame:
    """The same rules as `instant_problems` over whole columns: True where a row's field breaks its rule.

    ``ordered_at`` and ``picked_at`` are aware datetime Series (any resolution), ``delivery_minutes`` floats,
    all on the same index; the frame returned has that index and one boolean column per name in `FIELDS`.
    A missing ``ordered_at`` (NaT) counts as implausible, since it is what a date outside pandas' range
    becomes when parsed with ``errors="coerce"``; a missing pickup or duration is "not given".
    """
    earliest, latest = (pd.Timestamp(bound) for bound in order_window(now=now, is_completed=is_completed))
    is_order_ok = ((ordered_at >= earliest) & (ordered_at <= latest)).to_numpy(dtype=bool)
    flags = pd.DataFrame(False, index=ordered_at.index, columns=list(FIELDS))
    flags["ordered_at"] = ~is_order_ok
    if picked_at is not None:
        # Rows whose order is implausible are compared with a harmless stand-in: their pickup is not judged,
        # and arithmetic on an out-of-range order cannot overflow.
        order = ordered_at.where(is_order_ok, earliest)
        is_given = picked_at.notna().to_numpy(dtype=bool)
        is_pickup_ok = ((picked_at >= order) & (picked_at <= order + MAX_PICKUP_WAIT)).to_numpy(dtype=bool)
        flags["picked_at"] = is_order_ok & is_given & ~is_pickup_ok
    if delivery_minutes is not None:
        minutes = delivery_minutes.to_numpy(dtype=np.float64)
        low, high = DELIVERY_MINUTES_RANGE
        with np.errstate(invalid="ignore"):
            flags["delivery_minutes"] = ~np.isnan(minutes) & ~((minutes >= low) & (minutes <= high))
    return flags
