"""Recent delivery history replayed as live traffic in accelerated time, so every monitoring page has data.

A newcomer's quickstart has a champion and history but no traffic: drift, accuracy, alerts and the shadow
A/B test stay empty until orders and outcomes arrive. `traffic_simulate` replays the tenant's most recent
deliveries as the last ``hours`` of traffic up to now. Each simulated minute draws orders from the pool
rows ordered at that local hour (the history's time-of-day mix and volume profile), predicts them with the
champion from their point-in-time feature vectors (the offline builder: one definition, two executions),
audits them, lets the challenger shadow-score its share, reports each outcome when the delivery ends in
simulated time, and runs the periodic checks at their simulated instants: monitoring every
``MONITORING_CHECK_MINUTES`` and the A/B evaluation every ``AB_EVALUATION_MINUTES``.

A shift such as ``traffic=jam`` turns a share of the orders after ``shift_after`` into that level, doubling
its share (the champion scores the changed vector, and the delivery takes as much longer as that level's
deliveries take on average), so drift detection has something real to find.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from core.features import build_features
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame
from monitoring.live.checks import monitoring_checks_run
from monitoring.models import Alert
from predictions.models import PredictionAudit
from predictions.services import (
    SimulatedOrder,
    SimulatedOutcome,
    simulated_outcomes_record,
    simulated_predictions_record,
)
from predictions.shadow import shadow_evaluation_run, shadow_is_sampled, shadow_predictions_score
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.selectors import eta_challenger, eta_champion
from registry.services import challenger_set
from registry.training import eta_model_train
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# The replay draws from the tenant's last POOL_DAYS local days of history: recent enough to be "live",
# the evaluation window that training held out, so the champion has not fitted these deliveries.
POOL_DAYS = 7
# Order-level columns a shift may change: they are features of their own, unlike history features.
SHIFTABLE_COLUMNS = ("traffic", "weather", "vehicle", "area")


class SimulationRefused(ValueError):
    """The simulation cannot run for this tenant as asked (no champion, no history, an unknown shift)."""


@dataclass(frozen=True)
class Shift:
    """From ``after`` on, a share of the orders get ``column = level``."""

    column: str
    level: str
    after: dt.timedelta


@dataclass
class SimulationResult:
    """What one simulated run wrote and what the checks made of it."""

    start: dt.datetime
    end: dt.datetime
    orders: int = 0
    shifted_orders: int = 0
    outcomes: int = 0
    shadow_predictions: int = 0
    checks: int = 0
    drift_reports: list[int] = field(default_factory=list)
    accuracy_reports: list[int] = field(default_factory=list)
    shadow_evaluations: list[int] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def shift_parse(text: str, *, after: dt.timedelta) -> Shift:
    """``column=level`` (e.g. ``traffic=jam``) as a Shift; refuses a column a shift cannot change."""
    column, separator, level = text.partition("=")
    column, level = column.strip(), level.strip()
    if not separator or column not in SHIFTABLE_COLUMNS or not level:
        raise SimulationRefused(
            f"shift {text!r}: expected COLUMN=LEVEL with COLUMN one of {', '.join(SHIFTABLE_COLUMNS)}"
        )
    return Shift(column=column, level=level, after=after)


def challenger_ensure(*, tenant: Tenant, progress: Callable[[str], None] | None = None) -> ModelVersion:
    """The tenant's challenger; without one, a version trained now on its history becomes the challenger.

    The shadow A/B test needs a candidate beside the champion. Training up to ``POOL_DAYS`` before the
    history's end gives one that learned from less recent data, so the comparison has something to find.
    """
    challenger = eta_challenger(tenant=tenant)
    if challenger is not None:
        return challenger
    history_end = Delivery.objects.filter(tenant=tenant).aggregate(end=Max("ordered_at"))["end"]
    if history_end is None:
        raise SimulationRefused(f"tenant {tenant.slug!r} has no delivery history to train a challenger on")
    until = history_end.astimezone(ZoneInfo(tenant.time_zone)).date() - dt.timedelta(days=POOL_DAYS)
    version = eta_model_train(tenant=tenant, until=until, created_by="simulate_traffic", progress=progress)
    challenger_set(version=version, actor="simulate_traffic", reason="a candidate for the simulated shadow A/B test")
    return version


def traffic_simulate(
    *,
    tenant: Tenant,
    hours: float,
    shift: Shift | None = None,
    rate_per_minute: float = 10.0,
    seed: int = 0,
    end: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Replay the tenant's recent history as the ``hours`` of traffic before ``end`` (default now).

    ``rate_per_minute`` is the order rate at the pool's busiest hour; quieter hours get their share of it.
    Audits and outcomes are append-only, so a second run adds traffic rather than replacing it.
    """
    champion = eta_champion(tenant=tenant)
    if champion is None:
        raise SimulationRefused(f"tenant {tenant.slug!r} has no champion model to serve the traffic")
    challenger = eta_challenger(tenant=tenant)
    say = progress or (lambda message: None)
    time_zone = ZoneInfo(tenant.time_zone)
    end = (end or timezone.now()).replace(second=0, microsecond=0)
    start = end - dt.timedelta(hours=hours)
    rng = np.random.default_rng(seed)

    pool = _pool(tenant, time_zone)
    say(f"replaying {len(pool.frame)} recent deliveries as {hours:g} h of traffic, {start:%H:%M}-{end:%H:%M} UTC")
    orders = _orders(pool, start=start, end=end, rate_per_minute=rate_per_minute, time_zone=time_zone, rng=rng)
    if shift is not None:
        _shift_apply(orders, pool, shift, start=start, rng=rng)
    predictions = model_version_load(version=champion).predict_many(orders.vectors, explain=True)

    result = SimulationResult(start=start, end=end, shifted_orders=int(orders.is_shifted.sum()))
    alerts_before = set(Alert.objects.filter(tenant=tenant).values_list("pk", flat=True))
    check_every = dt.timedelta(minutes=settings.MONITORING_CHECK_MINUTES)
    evaluate_every = dt.timedelta(minutes=settings.AB_EVALUATION_MINUTES)
    run_label = f"sim-{end:%Y%m%d%H%M}-{seed}"
    audits: dict[int, PredictionAudit] = {}
    by_report = np.argsort(orders.reported_at, kind="stable")
    next_order = next_outcome = 0
    last_evaluation, tick = start, start + check_every
    while tick <= end:
        due = []
        while next_order < orders.size and orders.ordered_at[next_order] <= tick:
            due.append(next_order)
            next_order += 1
        written = simulated_predictions_record(
            tenant=tenant,
            version=champion,
            request_id=run_label,
            orders=[
                SimulatedOrder(
                    order_id=f"{run_label}-{position}",
                    order=orders.order_fields[position],
                    features=orders.vectors[position],
                    prediction=predictions[position],
                    ordered_at=orders.ordered_at[position],
                )
                for position in due
            ],
        )
        audits.update(zip(due, written, strict=True))
        result.orders += len(written)
        if challenger is not None:
            sampled = [str(a.pk) for a in written if shadow_is_sampled(audit_id=a.pk, share=settings.SHADOW_SHARE)]
            if sampled:
                result.shadow_predictions += len(shadow_predictions_score(audit_ids=sampled, challenger=challenger))
        outcomes = []
        while next_outcome < orders.size and orders.reported_at[by_report[next_outcome]] <= tick:
            position = int(by_report[next_outcome])
            outcomes.append(
                SimulatedOutcome(
                    audit=audits[position],
                    delivery_id=orders.delivery_ids[position],
                    actual_minutes=orders.actual_minutes[position],
                    reported_at=orders.reported_at[position],
                )
            )
            next_outcome += 1
        result.outcomes += simulated_outcomes_record(outcomes=outcomes)
        run = monitoring_checks_run(tenant=tenant, now=tick)
        result.checks += 1
        result.drift_reports += run.drift_reports
        result.accuracy_reports += run.accuracy_reports
        result.errors += run.errors
        if challenger is not None and tick - last_evaluation >= evaluate_every:
            evaluation = shadow_evaluation_run(tenant=tenant)
            if evaluation is not None and evaluation.pk not in result.shadow_evaluations:
                result.shadow_evaluations.append(evaluation.pk)
            last_evaluation = tick
        if result.checks % 12 == 0:
            say(f"  {tick:%H:%M} UTC: {result.orders} orders, {result.outcomes} outcomes, {result.checks} checks")
        tick += check_every
    result.alerts = sorted(set(Alert.objects.filter(tenant=tenant).values_list("pk", flat=True)) - alerts_before)
    return result


@dataclass
class _Pool:
    """The recent deliveries a replay draws from, with their point-in-time feature vectors."""

    frame: pd.DataFrame
    vectors: list[dict[str, object]]
    delivery_ids: np.ndarray
    rows_by_hour: dict[int, np.ndarray]

    def hour_weight(self, hour: int) -> float:
        """The hour's share of the busiest hour's traffic (the history's time-of-day profile)."""
        busiest = max(rows.size for rows in self.rows_by_hour.values())
        return self.rows_by_hour[hour].size / busiest if hour in self.rows_by_hour else 0.0


@dataclass
class _Orders:
    """The simulated orders in order time: pool row, simulated instants, vector, outcome."""

    rows: np.ndarray
    ordered_at: list[dt.datetime]
    reported_at: list[dt.datetime]
    vectors: list[dict[str, object]]
    order_fields: list[dict[str, object]]
    actual_minutes: list[float]
    delivery_ids: list[int]
    is_shifted: np.ndarray

    @property
    def size(self) -> int:
        return len(self.ordered_at)


def _pool(tenant: Tenant, time_zone: ZoneInfo) -> _Pool:
    history = deliveries_frame(tenant=tenant)
    if history.empty:
        raise SimulationRefused(f"tenant {tenant.slug!r} has no delivery history to replay")
    local_dates = history["ordered_at"].dt.tz_convert(time_zone).dt.date
    cutoff = local_dates.max() - dt.timedelta(days=POOL_DAYS)
    frame = history[(local_dates > cutoff).to_numpy()].reset_index(drop=True)
    vectors = build_features(frame, history=history, time_zone=time_zone)
    ids = dict(Delivery.objects.filter(tenant=tenant).values_list("external_order_id", "id"))
    hours = frame["ordered_at"].dt.tz_convert(time_zone).dt.hour.to_numpy()
    return _Pool(
        frame=frame,
        vectors=vectors.astype(object).where(vectors.notna(), None).to_dict(orient="records"),
        delivery_ids=np.array([ids[order_id] for order_id in frame["external_order_id"]]),
        rows_by_hour={hour: np.flatnonzero(hours == hour) for hour in range(24) if (hours == hour).any()},
    )


def _orders(
    pool: _Pool,
    *,
    start: dt.datetime,
    end: dt.datetime,
    rate_per_minute: float,
    time_zone: ZoneInfo,
    rng: np.random.Generator,
) -> _Orders:
    """Per simulated minute, Poisson(rate x the hour's weight) rows of that local hour, without replacement."""
    rows: list[int] = []
    ordered_at: list[dt.datetime] = []
    queues: dict[int, list[int]] = {}
    minutes = int((end - start).total_seconds() // 60)
    for minute in range(minutes):
        instant = start + dt.timedelta(minutes=minute)
        hour = instant.astimezone(time_zone).hour
        for offset in np.sort(rng.random(int(rng.poisson(rate_per_minute * pool.hour_weight(hour))))):
            if not queues.get(hour):
                queues[hour] = rng.permutation(pool.rows_by_hour[hour]).tolist()
            rows.append(queues[hour].pop())
            ordered_at.append(instant + dt.timedelta(minutes=float(offset)))
    row_array = np.array(rows, dtype=np.int64)
    actual = pool.frame["delivery_minutes"].to_numpy(dtype=np.float64)[row_array].tolist()
    return _Orders(
        rows=row_array,
        ordered_at=ordered_at,
        reported_at=[when + dt.timedelta(minutes=minutes) for when, minutes in zip(ordered_at, actual, strict=True)],
        vectors=[dict(pool.vectors[row]) for row in row_array],
        order_fields=[{name: pool.vectors[row].get(name) for name in SHIFTABLE_COLUMNS} for row in row_array],
        actual_minutes=actual,
        delivery_ids=pool.delivery_ids[row_array].tolist(),
        is_shifted=np.zeros(len(row_array), dtype=bool),
    )


def _shift_apply(orders: _Orders, pool: _Pool, shift: Shift, *, start: dt.datetime, rng: np.random.Generator) -> None:
    """Double the level's share among the orders after the shift, and slow their deliveries to match."""
    column = pool.frame[shift.column].astype(str)
    if shift.level not in set(column):
        raise SimulationRefused(f"shift {shift.column}={shift.level}: no delivery of the history has that level")
    share = float((column == shift.level).mean())
    probability = min(1.0, share / max(1.0 - share, 1e-9))
    mean_minutes = pool.frame.groupby(column)["delivery_minutes"].mean()
    shift_start = start + shift.after
    for position in range(orders.size):
        original = orders.vectors[position].get(shift.column)
        if orders.ordered_at[position] < shift_start or original in (None, shift.level) or rng.random() >= probability:
            continue
        slower = float(mean_minutes[shift.level] / mean_minutes[str(original)])
        orders.vectors[position][shift.column] = shift.level
        orders.order_fields[position][shift.column] = shift.level
        orders.actual_minutes[position] *= slower
        orders.reported_at[position] = orders.ordered_at[position] + dt.timedelta(
            minutes=orders.actual_minutes[position]
        )
        orders.is_shifted[position] = True
