"""Drift bench: deliveries replayed as live traffic in simulated time through the real monitoring checks.

    .venv/bin/python bench/drift.py                    # one span: the file's last --span-days, model before them
    .venv/bin/python bench/drift.py --quick            # smoke run: one replay per scenario
    .venv/bin/python bench/drift.py --walk-forward     # fit thresholds on one span, measure on the next, by fold

Setup (kept between runs, in its own PostgreSQL database ``--database-url``): a tenant with the bundled
delivery history imported (a synthetic one when ``../shared`` is absent) and a champion trained with
``eta_model_train`` on the history up to a cutoff. The deliveries of the ``--span-days`` after that cutoff, never
seen by training or its validation window, are the pool replayed as live traffic. Each pool row keeps the
feature vector serving would have computed for it at its real order time (the offline builder against the whole
history: one definition, two executions), and the champion's ETA for that vector.

Before any replay the bench reports, per tested feature, how far the pool differs from the champion's drift
reference (effect size and p-value of the drift tests, no injection): the file alternates long-distance and
short-distance days, and a span's mix of the two kinds need not be the reference's.

A replay runs a simulated clock for ``--warmup-minutes`` + ``--shift-minutes`` from a local hour of the day,
after ``--preroll-minutes`` of traffic nobody checks. Each simulated minute, Poisson(rate x the hour's share of
the busiest hour's traffic) orders are drawn, without replacement until used up, from the pool rows placed at
that hour of day; orders become `PredictionAudit` rows stamped with their simulated time, outcomes
`PredictionOutcome` rows when the delivery ends in simulated time. Every ``--check-minutes`` the real
`monitoring_checks_run` runs for that instant (retraining on alerts off).

Scenarios, from the end of the warm-up (T0):
- matched (no change, pool matched to the reference's mix): rows drawn from the pool re-weighted to the
  reference's share of each kind of day, at ``--rate`` orders a minute at the busiest hour. Target: alarms
  (drift or accuracy, any severity) on at most 2% of checks.
- natural (no change, the next period as it came): replay i is the pool's day i (in order), at that day's own
  volume. Target: at most one paging alarm (critical: a drift whose ETA impact reaches the tolerance, or realized
  accuracy beyond twice its limits) per simulated day, unless the realized MAE really is above tolerance.
- covariate: the traffic-jam share doubles (matched pool). concept: delivery times of ``--concept-area`` rise
  20% (matched pool). Target: found (any severity) within 60 simulated minutes.

--walk-forward: folds of two consecutive spans each (fit, then test), the champion trained up to the fit span.
The checks run with loose CUSUM settings so that every candidate threshold can be applied afterwards to what
they stored (the drift tests' corrected p-values and effects, the ETA impact, each CUSUM stream's statistic,
count and shift); the thresholds that meet the targets on the fit span with the shortest detection delays are
then measured on the test span. Figures on stdout and in bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import io
import json
import math
import os
import platform
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Shared with the serving benchmark: database creation and the history file (bundled, else synthetic).
from serving import database_ensure, history_file  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "drift.json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/intellilog_bench_drift"
TENANT_SLUG = "bench-drift"
TARGET_DELAY_MINUTES = 60
TARGET_MATCHED_ALARM_RATE = 0.02
TARGET_NATURAL_PAGES_PER_DAY = 1.0
CONCEPT_FACTOR = 1.2
# Local start hours of the replays, cycled: morning, lunch, afternoon and the evening peak, so the
# false-alarm rate is not measured at one time of day only.
NO_CHANGE_START_HOURS = (8, 11, 14, 17, 20)
# Walk-forward candidates for each fitted threshold (the production default is among them).
CANDIDATE_DRIFT_ALPHA = (0.0001, 0.001, 0.01)
CANDIDATE_IMPACT_TOLERANCE = (1.0, 2.0, 4.0)
CANDIDATE_CUSUM_DAILY_ALPHA = (0.05, 0.25, 1.0)
CANDIDATE_CUSUM_MIN_EFFECT = (0.5, 1.0, 2.0)
CANDIDATE_CUSUM_CHECK_ALPHA = (0.005, 0.01, 0.02)
CANDIDATE_CUSUM_H = (6.0, 7.0, 8.0)
CANDIDATE_ACCURACY_ALPHA = (0.01, 0.001, 0.0001)
CANDIDATE_SEGMENT_EFFECT_SD = (0.0, 0.5, 0.25)
SHIFT_START_HOURS = (17, 9, 13)
# Walk-forward checks store every CUSUM stream above this statistic, below the smallest candidate floor h.
STORED_CUSUM_FLOOR = 5.0
# Replay parameters that change what a replay stores: the cache key of a span's replays (with the span's dates).
REPLAY_PARAMETERS = (
    "rate",
    "check_minutes",
    "preroll_minutes",
    "warmup_minutes",
    "shift_minutes",
    "seed",
    "concept_area",
)
# Simulated replays start on this date, one every REPLAY_SPACING_DAYS, far from each other so no window
# (60 minutes of drift, 24 hours of accuracy) ever sees another replay's traffic.
SIMULATION_EPOCH = dt.date(2030, 1, 7)
REPLAY_SPACING_DAYS = 3


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----- setup -----


def django_setup(args: argparse.Namespace, var_dir: Path) -> None:
    """Point Django at the bench database and files, with the monitoring defaults; then set it up.

    Walk-forward runs the checks with a CUSUM budget so loose that every stream above the floor h is stored as an
    alarm: the candidate thresholds are applied afterwards to what was stored (see `verdict`).
    """
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "intellilog.settings",
            "DEBUG": "true",
            "DATABASE_URL": args.database_url,
            "INTELLILOG_VAR_DIR": str(var_dir),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            # Measured here: when the checks flag a shift; not the training that an alert would queue.
            "RETRAIN_ON_ALERT": "false",
            "FEATURE_STORE_KEY_PREFIX": "bench-drift:features",
        }
    )
    if args.walk_forward:
        os.environ.update(
            {
                "ACCURACY_CUSUM_DAILY_ALPHA": "1000",
                "ACCURACY_CUSUM_CHECK_ALPHA": "1000",
                "ACCURACY_CUSUM_MIN_EFFECT_MINUTES": "0",
                "ACCURACY_CUSUM_H": str(STORED_CUSUM_FLOOR),
                "ACCURACY_CUSUM_SEGMENT_EFFECT_SD": "0",
            }
        )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def champion_setup(history: Path, cutoff: dt.date) -> tuple[Any, bool]:
    """The bench tenant's champion trained up to `cutoff` (trained once, reused by later runs)."""
    from django.core.management import call_command

    from deliveries.models import ImportBatch
    from registry.choices import Alias
    from registry.models import ModelAlias, ModelVersion
    from registry.selectors import eta_champion
    from registry.training import eta_model_train
    from tenants.models import Tenant
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(slug=TENANT_SLUG, name="Drift bench")
    if not ImportBatch.objects.filter(tenant=tenant, rows_imported__gt=0).exists():
        say(f"importing {history}")
        call_command("import_deliveries", str(history), tenant=tenant.slug, stdout=io.StringIO(), stderr=io.StringIO())
    champion = eta_champion(tenant=tenant)
    ordered_before = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tenant.time_zone))
    if champion is not None and champion.lineage["data"]["ordered_before"] == ordered_before.isoformat():
        return champion, True
    # A fold's champion trained by an earlier run (versions stay in the bench database): serve it again.
    trained = (
        ModelVersion.objects.filter(tenant=tenant, lineage__data__ordered_before=ordered_before.isoformat())
        .order_by("-pk")
        .first()
    )
    if trained is not None:
        ModelAlias.objects.update_or_create(
            tenant=tenant,
            registered_model=trained.registered_model,
            alias=Alias.CHAMPION,
            defaults={"version": trained},
        )
        return trained, True
    say(f"training the champion on deliveries up to {cutoff} (once per cutoff)")
    version = eta_model_train(
        tenant=tenant, until=cutoff, created_by="bench/drift.py", progress=lambda m: say(f"  {m}")
    )
    # The bench needs a serving champion, not a promotion decision (reviewers, evidence, A/B gate).
    ModelAlias.objects.update_or_create(
        tenant=tenant, registered_model=version.registered_model, alias=Alias.CHAMPION, defaults={"version": version}
    )
    return version, False


def replay_history_clear(tenant_id: int) -> dt.date:
    """Remove earlier runs' reports and drift reference, resolve their alerts; return the first free simulated date.

    Audits and outcomes are append-only (the database refuses to delete them), so a new run simulates days
    after every earlier run's traffic instead; the reference is rebuilt on the first check, from this run's
    settings (a stored reference keeps those it was built with).
    """
    from django.db.models import Max

    from monitoring.choices import AlertStatus
    from monitoring.models import AccuracyReport, Alert, DriftReference, DriftReport, RetrainingTrigger
    from monitoring.services import alert_resolve
    from predictions.models import PredictionAudit

    RetrainingTrigger.objects.filter(tenant_id=tenant_id).delete()
    DriftReport.objects.filter(tenant_id=tenant_id).delete()
    AccuracyReport.objects.filter(tenant_id=tenant_id).delete()
    DriftReference.objects.filter(tenant_id=tenant_id).delete()
    # Alerts are append-only: earlier runs' firing ones are resolved, so this run's first alarm fires anew.
    for alert in Alert.objects.filter(tenant_id=tenant_id, status=AlertStatus.FIRING).select_related("tenant"):
        alert_resolve(rule=alert.rule, tenant=alert.tenant, subject=alert.subject)
    latest = PredictionAudit.objects.filter(tenant_id=tenant_id).aggregate(latest=Max("created_at"))["latest"]
    if latest is None:
        return SIMULATION_EPOCH
    return max(SIMULATION_EPOCH, latest.date() + dt.timedelta(days=REPLAY_SPACING_DAYS))


# ----- the replay pool -----


@dataclass
class Pool:
    """One span's deliveries with the vectors, ETAs and outcomes a replay draws from."""

    frame: pd.DataFrame  # clean delivery columns
    vectors: pd.DataFrame  # FEATURE_NAMES, point-in-time
    records: list[dict[str, Any]]  # vectors as JSON-ready dicts (NaN as None)
    eta: np.ndarray
    is_ood: np.ndarray
    delivery_ids: np.ndarray
    days: list[str]  # the span's local dates, in order
    rows_by_hour: dict[int, np.ndarray]  # matched to the reference's mix of kinds of day
    rows_by_day_hour: dict[tuple[str, int], np.ndarray]  # as they came
    day_types: dict[str, int]  # per local date (empty without day types)
    jam_share: float

    def hour_weight(self, hour: int) -> float:
        """The hour's traffic relative to the busiest hour of the pool (the file's time-of-day profile)."""
        busiest = max(rows.size for rows in self.rows_by_hour.values())
        return self.rows_by_hour[hour].size / busiest if hour in self.rows_by_hour else 0.0

    def day_rate(self, day: str) -> float:
        """Orders a minute at the day's busiest hour: the day's own volume."""
        return max(rows.size for (d, _), rows in self.rows_by_day_hour.items() if d == day) / 60.0


def pool_build(tenant: Any, version: Any, reference: Any, start: dt.date, end: dt.date, seed: int) -> Pool:
    """The deliveries of local dates in (start, end], and the same re-weighted to the reference's kinds of day.

    Matching: each kind of day gets the reference's share of rows at every hour; rows of the over-represented
    kind are subsampled (seeded), so the matched pool differs from the reference only by chance and by what truly
    changed, not by its mix of long and short days.
    """
    from core.features import build_features
    from core.stats.strata import DayTypes
    from deliveries.models import Delivery
    from deliveries.selectors import deliveries_frame
    from registry.loader import model_version_load

    time_zone = ZoneInfo(tenant.time_zone)
    history = deliveries_frame(tenant=tenant)
    local_dates = history["ordered_at"].dt.tz_convert(time_zone).dt.date
    frame = history[((local_dates > start) & (local_dates <= end)).to_numpy()].reset_index(drop=True)
    vectors = build_features(frame, history=history, time_zone=time_zone)
    predictor = model_version_load(version=version)
    records = vectors.astype(object).where(vectors.notna(), None).to_dict(orient="records")
    ids = dict(Delivery.objects.filter(tenant=tenant).values_list("external_order_id", "id"))
    hours = frame["ordered_at"].dt.tz_convert(time_zone).dt.hour.to_numpy()
    days = frame["ordered_at"].dt.tz_convert(time_zone).dt.date.astype(str).to_numpy()
    rule = (reference.source or {}).get("day_types")
    day_types: dict[str, int] = {}
    is_kept = np.ones(len(frame), dtype=bool)
    if rule:
        day_types_rule = DayTypes.from_dict(rule)
        daily = vectors.groupby(days)[day_types_rule.feature].mean()
        day_types = {day: day_types_rule.day_type(mean) for day, mean in daily.items()}
        row_types = np.array([day_types[day] for day in days])
        reference_types = np.asarray(reference.columns["day_type"], dtype=float)
        reference_hours = np.floor(np.asarray(reference.columns["order_hour"], dtype=float))
        rng = np.random.default_rng(seed)
        for hour in np.unique(hours):
            # Per hour: in the bundled file long days have no morning orders, so the kinds of day are matched
            # at each hour, not overall.
            typed = (reference_hours == hour) & (reference_types >= 0)
            target_high = float((typed & (reference_types == 1)).sum() / max(typed.sum(), 1))
            at_hour = hours == hour
            high, low = np.flatnonzero(at_hour & (row_types == 1)), np.flatnonzero(at_hour & (row_types == 0))
            if high.size == 0 or low.size == 0 or not 0 < target_high < 1:
                continue
            # Keep as many rows as the scarcer kind allows at the reference's shares.
            total = min(high.size / target_high, low.size / (1 - target_high))
            for rows, share in ((high, target_high), (low, 1 - target_high)):
                keep = round(total * share)
                is_kept[rng.choice(rows, size=rows.size - min(keep, rows.size), replace=False)] = False
    return Pool(
        frame=frame,
        vectors=vectors,
        records=records,
        eta=predictor.predict_frame(vectors).eta_minutes,
        is_ood=predictor.out_of_range_mask(vectors),
        delivery_ids=np.array([ids[order_id] for order_id in frame["external_order_id"]]),
        days=sorted(set(days)),
        rows_by_hour={h: np.flatnonzero((hours == h) & is_kept) for h in range(24) if ((hours == h) & is_kept).any()},
        rows_by_day_hour={
            (day, int(h)): np.flatnonzero((days == day) & (hours == h)) for day, h in set(zip(days, hours, strict=True))
        },
        day_types=day_types,
        jam_share=float((history["traffic"] == "jam").mean()),
    )


def pool_difference(pool: Pool, reference: Any) -> dict[str, Any]:
    """Per tested feature, the drift tests' effect and p-value of the whole pool and of the matched pool against
    the reference (no stratification, no injection): how different the traffic is before anything is changed."""
    from core.stats import DriftThresholds, drift_check
    from monitoring.live.reference import drift_reference_frame
    from monitoring.live.sampling import PREDICTION_COLUMN, DriftFeatures

    features = DriftFeatures.from_dict(reference.features)
    reference_frame = drift_reference_frame(reference)
    frame = pool.vectors[list(features.names)].copy()
    frame[PREDICTION_COLUMN] = pool.eta
    matched_rows = np.sort(np.concatenate(list(pool.rows_by_hour.values())))
    figures: dict[str, Any] = {}
    for label, rows in (("natural", np.arange(len(frame))), ("matched", matched_rows)):
        result = drift_check(
            reference_frame,
            frame.iloc[rows],
            numeric=features.numeric,
            categorical=features.categorical,
            prediction_column=PREDICTION_COLUMN,
            thresholds=DriftThresholds(),
        )
        figures[label] = {
            check.feature: {"metric": check.effect_metric, "effect": check.effect_size, "p_value": check.p_value}
            for check in (*result.features, result.prediction)
            if check is not None and check.kind != "missing_share"
        }
        figures[label]["rows"] = len(rows)
    figures["day_types"] = pool.day_types
    return figures


# ----- one replay -----


@dataclass(frozen=True)
class ReplaySpec:
    scenario: str  # "matched" | "natural" | "covariate" | "concept"
    index: int
    start_hour: int
    seed: int
    day: str | None = None  # natural: the pool day replayed


@dataclass
class CheckRecord:
    """What one check at one simulated minute stored, enough to apply other thresholds afterwards."""

    minute: int
    drift_status: str
    drift_severity: str
    drifted: list[str]
    raw_drifted: list[str]  # drifted against the time-of-day-only reference
    drift_tests: list[tuple[float, float, float]]  # (corrected p, effect, minimum effect) of every test
    impact_minutes: float | None
    raw_impact_minutes: float | None
    day_type_mix: float | None
    n_current: int
    n_reference: int
    accuracy_status: str
    recent_outcomes: int
    recent_mae: float | None
    mae: float | None
    baseline_mae: float | None
    degraded: bool
    accuracy_critical: bool
    windows: list[tuple[bool, float, float, float, float]]  # (judged, MAE increase, its p, bias shift, its p)
    cusum_streams: list[tuple[str, int, float, float]]  # (name, outcomes, statistic, shift minutes) in alarm
    cusum_statistics: int  # one-sided statistics in the family (segments and whole stream, both sides)
    quality_score: float | None
    seconds: float


@dataclass
class ReplayResult:
    spec: ReplaySpec
    start: str
    shift_minute: int | None
    orders: int
    changed_orders: int
    checks: list[CheckRecord] = field(default_factory=list)


def replay_run(
    spec: ReplaySpec, args: argparse.Namespace, pool: Pool, tenant: Any, version: Any, epoch: dt.date
) -> ReplayResult:
    from monitoring.live.checks import monitoring_checks_run
    from monitoring.models import AccuracyReport, DriftReport
    from predictions.choices import PredictionSource
    from predictions.models import PredictionAudit, PredictionOutcome
    from registry.loader import model_version_load

    time_zone = ZoneInfo(tenant.time_zone)
    rng = np.random.default_rng(spec.seed)
    day = epoch + dt.timedelta(days=REPLAY_SPACING_DAYS * spec.index)
    start = dt.datetime.combine(day, dt.time(spec.start_hour), tzinfo=time_zone).astimezone(dt.UTC)
    total = args.warmup_minutes + args.shift_minutes
    shift_minute = None if spec.scenario in ("matched", "natural") else args.warmup_minutes

    # The orders: per simulated minute, Poisson(rate x the hour's share of the busiest hour's traffic) pool rows
    # of that local hour, at uniform seconds. Drawn without replacement (each hour's rows shuffled, reshuffled
    # when used up): a window of orders that repeat rows would make sampling noise of the pool look significant.
    # A natural replay draws from its own day at that day's volume, so it repeats no row within an hour.
    rows: list[int] = []
    offsets: list[float] = []
    queues: dict[int, list[int]] = {}
    for minute in range(-args.preroll_minutes, total):
        hour = (start + dt.timedelta(minutes=minute)).astimezone(time_zone).hour
        if spec.day is not None:
            source = pool.rows_by_day_hour.get((spec.day, hour), np.arange(0))
            count = int(rng.poisson(source.size / 60.0))
        else:
            source = pool.rows_by_hour.get(hour, np.arange(0))
            count = int(rng.poisson(args.rate * pool.hour_weight(hour)))
        if source.size == 0:
            count = 0
        for _ in range(count):
            if not queues.get(hour):
                queues[hour] = rng.permutation(source).tolist()
            rows.append(queues[hour].pop())
        offsets.extend((minute + rng.random(count)).tolist())
    rows_array, minutes = np.array(rows, dtype=np.int64), np.array(offsets)
    records = [dict(pool.records[row]) for row in rows_array]
    eta = pool.eta[rows_array].copy()
    actual = pool.frame["delivery_minutes"].to_numpy(dtype=np.float64)[rows_array].copy()
    after_shift = minutes >= shift_minute if shift_minute is not None else np.zeros(len(rows_array), dtype=bool)

    changed = np.zeros(len(rows_array), dtype=bool)
    if spec.scenario == "covariate":
        # Jam share doubled: the file's overall jam share of all orders, drawn from those that were not jams.
        not_jam = np.array([record["traffic"] != "jam" for record in records])
        probability = min(pool.jam_share / max(not_jam.mean(), 1e-9), 1.0)
        changed = after_shift & not_jam & (rng.random(len(rows_array)) < probability)
        for position in np.flatnonzero(changed):
            records[position]["traffic"] = "jam"
        if changed.any():
            predictor = model_version_load(version=version)
            eta[changed] = predictor.predict_frame(
                pd.DataFrame([records[p] for p in np.flatnonzero(changed)])
            ).eta_minutes
    elif spec.scenario == "concept":
        areas = pool.frame["area"].to_numpy(dtype=object)[rows_array]
        changed = after_shift & (areas == args.concept_area)
        actual[changed] *= CONCEPT_FACTOR

    ordered_at = [start + dt.timedelta(minutes=float(offset)) for offset in minutes]
    reported_at = [when + dt.timedelta(minutes=float(delay)) for when, delay in zip(ordered_at, actual, strict=True)]
    result = ReplayResult(
        spec=spec,
        start=start.isoformat(),
        shift_minute=shift_minute,
        orders=len(rows_array),
        changed_orders=int(changed.sum()),
    )
    audits: dict[int, PredictionAudit] = {}
    outcome_order = np.argsort(np.array([when.timestamp() for when in reported_at]), kind="stable")
    next_order = next_outcome = 0
    for minute in range(args.check_minutes, total + 1, args.check_minutes):
        tick = start + dt.timedelta(minutes=minute)
        batch = []
        while next_order < len(rows_array) and ordered_at[next_order] <= tick:
            position = next_order
            row = rows_array[position]
            record = records[position]
            audit = PredictionAudit(
                tenant=tenant,
                source=PredictionSource.API,
                request_id=uuid.uuid4().hex,
                order_id=f"replay-{spec.index}-{position}",
                request_sha256="0" * 64,
                request={},
                order={name: record[name] for name in ("area", "vehicle", "weather", "traffic")},
                features=record,
                feature_freshness={},
                used_fallback=False,
                model_version=version,
                artifact_sha256=version.artifact_sha256,
                predicted_eta_minutes=float(eta[position]),
                quantiles={},
                confidence_score=1.0,
                is_ood=bool(pool.is_ood[row]) and not changed[position],
                response={},
                latency_ms=0.0,
                created_at=ordered_at[position],
            )
            audits[position] = audit
            batch.append(audit)
            next_order += 1
        PredictionAudit.objects.bulk_create(batch)
        outcomes = []
        while next_outcome < len(outcome_order) and reported_at[outcome_order[next_outcome]] <= tick:
            position = int(outcome_order[next_outcome])
            outcomes.append(
                PredictionOutcome(
                    tenant=tenant,
                    audit=audits[position],
                    delivery_id=int(pool.delivery_ids[rows_array[position]]),
                    model_version=version,
                    actual_minutes=float(actual[position]),
                    error_minutes=float(eta[position] - actual[position]),
                    reported_at=reported_at[position],
                )
            )
            next_outcome += 1
        PredictionOutcome.objects.bulk_create(outcomes)

        began = time.perf_counter()
        run = monitoring_checks_run(tenant=tenant, now=tick)
        seconds = time.perf_counter() - began
        if run.errors:
            raise RuntimeError(f"checks failed at minute {minute}: {run.errors}")
        drift = DriftReport.objects.get(pk=run.drift_reports[0])
        accuracy = AccuracyReport.objects.select_related("alert").get(pk=run.accuracy_reports[0])
        result.checks.append(check_record(minute, drift, accuracy, run.quality_score, seconds))
    return result


def check_record(minute: int, drift: Any, accuracy: Any, quality_score: float | None, seconds: float) -> CheckRecord:
    """The figures of one tick's drift and accuracy reports that the summaries and the threshold fits need."""
    stored = drift.result or {}
    raw = stored.get("raw") or {}
    tests = [
        (test["corrected_p_value"], test["effect_size"], test["min_effect"])
        for test in (*stored.get("features", []), stored.get("prediction"), stored.get("multivariate"))
        if test is not None and test.get("status") == "tested"
    ]
    detection = accuracy.change_detection or {}
    streams = [detection["overall"], *detection["segments"]] if detection else []
    return CheckRecord(
        minute=minute,
        drift_status=drift.status,
        drift_severity=drift.severity,
        drifted=list(drift.drifted_features)
        + (["prediction"] if (stored.get("prediction") or {}).get("is_drifted") else [])
        + (["multivariate"] if (stored.get("multivariate") or {}).get("is_drifted") else []),
        raw_drifted=list(raw.get("drifted_features", [])),
        drift_tests=tests,
        impact_minutes=(stored.get("impact") or {}).get("wasserstein_minutes"),
        raw_impact_minutes=(raw.get("impact") or {}).get("wasserstein_minutes"),
        day_type_mix=stored.get("day_type_mix"),
        n_current=drift.n_current,
        n_reference=drift.n_reference,
        accuracy_status=accuracy.status,
        recent_outcomes=accuracy.recent_outcomes,
        recent_mae=accuracy.recent_mae,
        mae=accuracy.mae,
        baseline_mae=accuracy.baseline_mae,
        degraded=accuracy.is_degraded,
        accuracy_critical=accuracy.alert is not None and accuracy.alert.severity == "critical",
        windows=[
            (w["is_judged"], w["mae_increase"], w["mae_p_value"], w["bias_shift"], w["bias_p_value"])
            for w in accuracy.findings or []
        ],
        cusum_streams=[
            (
                "all" if s["dimension"] == "all outcomes" else f"{s['dimension']}={s['value']}",
                s["count"],
                max(s["upper"], s["lower"]),
                s["shift_minutes"],
            )
            for s in streams
            if s["is_alarm"]
        ],
        cusum_statistics=int(detection.get("segment_statistics", 0)) + 2,
        quality_score=quality_score,
        seconds=seconds,
    )


# ----- thresholds applied to what the checks stored -----


@dataclass(frozen=True)
class Thresholds:
    """The monitoring thresholds a span's figures are computed with (the fitted ones and the fixed CUSUM shape)."""

    drift_alpha: float
    impact_tolerance: float
    cusum_daily_alpha: float
    cusum_min_effect: float
    cusum_check_alpha: float
    cusum_segment_effect_sd: float
    accuracy_alpha: float
    accuracy_tolerance: float
    max_bias_minutes: float
    cusum_h: float
    cusum_k: float
    cusum_hours: float

    @classmethod
    def from_settings(cls) -> Thresholds:
        from django.conf import settings

        return cls(
            drift_alpha=settings.DRIFT_ALPHA,
            impact_tolerance=settings.DRIFT_IMPACT_TOLERANCE_MINUTES,
            cusum_daily_alpha=settings.ACCURACY_CUSUM_DAILY_ALPHA,
            cusum_min_effect=settings.ACCURACY_CUSUM_MIN_EFFECT_MINUTES,
            cusum_check_alpha=settings.ACCURACY_CUSUM_CHECK_ALPHA,
            cusum_segment_effect_sd=settings.ACCURACY_CUSUM_SEGMENT_EFFECT_SD,
            accuracy_alpha=settings.ACCURACY_ALPHA,
            accuracy_tolerance=settings.ACCURACY_TOLERANCE,
            max_bias_minutes=settings.ACCURACY_MAX_BIAS_MINUTES,
            cusum_h=settings.ACCURACY_CUSUM_H,
            cusum_k=settings.ACCURACY_CUSUM_K,
            cusum_hours=settings.ACCURACY_CUSUM_HOURS,
        )

    def fitted(self) -> dict[str, float]:
        return {
            "DRIFT_ALPHA": self.drift_alpha,
            "DRIFT_IMPACT_TOLERANCE_MINUTES": self.impact_tolerance,
            "ACCURACY_CUSUM_DAILY_ALPHA": self.cusum_daily_alpha,
            "ACCURACY_CUSUM_MIN_EFFECT_MINUTES": self.cusum_min_effect,
            "ACCURACY_CUSUM_CHECK_ALPHA": self.cusum_check_alpha,
            "ACCURACY_CUSUM_H": self.cusum_h,
            "ACCURACY_ALPHA": self.accuracy_alpha,
            "ACCURACY_CUSUM_SEGMENT_EFFECT_SD": self.cusum_segment_effect_sd,
        }

    def strictness(self) -> tuple[float, ...]:
        """Smaller is stricter (fewer alarms) in every threshold: the conservative tie-break of `thresholds_fit`."""
        return (
            self.drift_alpha,
            -self.impact_tolerance,
            self.cusum_daily_alpha,
            self.cusum_check_alpha,
            self.accuracy_alpha,
            -self.cusum_h,
            -self.cusum_min_effect,
            self.cusum_segment_effect_sd if self.cusum_segment_effect_sd > 0 else math.inf,  # 0: no minimum
        )


@functools.lru_cache(maxsize=100_000)
def stream_threshold(count: int, statistics: int, limits: Any) -> float:
    """A stream's threshold under these CUSUM limits: the checks' own rule (`accuracy_rules.stream_threshold`)."""
    from monitoring.live.accuracy_rules import stream_threshold as checks_stream_threshold

    return checks_stream_threshold(limits, count=count, statistics=statistics, is_segment=True)


@dataclass(frozen=True)
class Verdict:
    drift: bool
    accuracy: bool
    page: bool

    @property
    def alarm(self) -> bool:
        return self.drift or self.accuracy


# Each part of a verdict depends on a few thresholds only: memoised per check (by id: the run keeps every check)
# and those thresholds, so a grid of thousands of candidates re-applies each part once per value it takes.
_parts: dict[tuple[Any, ...], Any] = {}


def _part(check: CheckRecord, key: tuple[Any, ...], compute: Any) -> Any:
    full = (id(check), *key)
    if full not in _parts:
        _parts[full] = compute()
    return _parts[full]


def verdict(check: CheckRecord, thresholds: Thresholds) -> Verdict:
    """What the checks would have said with these thresholds (the same rules as monitoring/live)."""
    from monitoring.live.accuracy_rules import ChangeLimits

    t = thresholds
    drift = _part(
        check,
        ("drift", t.drift_alpha),
        lambda: (
            check.drift_status == "ok"
            and any(p < t.drift_alpha and effect >= minimum for p, effect, minimum in check.drift_tests)
        ),
    )
    limits = ChangeLimits(
        k=t.cusum_k,
        h=t.cusum_h,
        min_outcomes=0,
        daily_alpha=t.cusum_daily_alpha,
        stream_hours=t.cusum_hours,
        min_effect_minutes=t.cusum_min_effect,
        check_alpha=t.cusum_check_alpha,
        segment_effect_sd=t.cusum_segment_effect_sd,
    )
    min_segment = limits.min_segment_outcomes(check.cusum_statistics)
    cusum = _part(
        check,
        ("cusum", limits),
        lambda: any(
            statistic > stream_threshold(count, check.cusum_statistics, limits)
            and abs(shift) >= t.cusum_min_effect
            and (name == "all" or count >= min_segment)
            for name, count, statistic, shift in check.cusum_streams
        ),
    )
    windows, critical = _part(
        check, ("windows", t.accuracy_alpha, t.accuracy_tolerance, t.max_bias_minutes), lambda: _windows(check, t)
    )
    accuracy = check.accuracy_status == "ok" and (windows or cusum)
    drift_page = drift and (check.impact_minutes or 0.0) >= t.impact_tolerance
    return Verdict(drift=drift, accuracy=accuracy, page=drift_page or (check.accuracy_status == "ok" and critical))


def _windows(check: CheckRecord, thresholds: Thresholds) -> tuple[bool, bool]:
    """Whether a window rule (`accuracy_rules.WindowJudgement`) is degraded: beyond a limit and significant; and
    whether critically: beyond twice it."""
    degraded = [
        (increase > thresholds.accuracy_tolerance and mae_p < thresholds.accuracy_alpha, increase, False)
        for judged, increase, mae_p, _, _ in check.windows
        if judged
    ] + [
        (abs(shift) > thresholds.max_bias_minutes and bias_p < thresholds.accuracy_alpha, abs(shift), True)
        for judged, _, _, shift, bias_p in check.windows
        if judged
    ]
    critical = any(
        is_degraded and size > 2 * (thresholds.max_bias_minutes if is_bias else thresholds.accuracy_tolerance)
        for is_degraded, size, is_bias in degraded
    )
    return any(is_degraded for is_degraded, _, _ in degraded), critical


def delay(result: ReplayResult, thresholds: Thresholds, kind: str) -> int | None:
    """Simulated minutes from the shift to the first check after it that flags `kind` (drift/accuracy/any)."""
    for check in result.checks:
        if result.shift_minute is None or check.minute <= result.shift_minute:
            continue
        flags = verdict(check, thresholds)
        if {"drift": flags.drift, "accuracy": flags.accuracy, "any": flags.alarm}[kind]:
            return check.minute - result.shift_minute
    return None


def span_figures(results: list[ReplayResult], thresholds: Thresholds, args: argparse.Namespace) -> dict[str, Any]:
    """The span's alarm rates, paging rate and detection delays under `thresholds`, and whether each target holds."""
    from django.conf import settings

    matched = [c for r in results if r.spec.scenario == "matched" for c in r.checks]
    pre_shift = [c for r in results if r.shift_minute is not None for c in r.checks if c.minute <= r.shift_minute]
    matched_verdicts = [verdict(c, thresholds) for c in matched]
    natural = [r for r in results if r.spec.scenario == "natural"]
    pages = 0
    natural_checks = natural_alarms = 0
    worse_days = []
    for result in natural:
        was_paging = False
        for check in result.checks:
            flags = verdict(check, thresholds)
            pages += flags.page and not was_paging
            was_paging = flags.page
            natural_checks += 1
            natural_alarms += flags.alarm
        last = next((c for c in reversed(result.checks) if c.mae is not None and c.baseline_mae), None)
        if last is not None and last.mae / last.baseline_mae - 1 > settings.ACCURACY_TOLERANCE:
            worse_days.append(result.spec.day)
    simulated_days = sum(len(r.checks) for r in natural) * args.check_minutes / 1440
    figures: dict[str, Any] = {
        "matched": {
            "checks": len(matched),
            "alarms": sum(v.alarm for v in matched_verdicts),
            "drift_alarms": sum(v.drift for v in matched_verdicts),
            "accuracy_alarms": sum(v.accuracy for v in matched_verdicts),
            "rate": rate(sum(v.alarm for v in matched_verdicts), len(matched)),
            "pre_shift_checks": len(pre_shift),
            "pre_shift_alarms": sum(verdict(c, thresholds).alarm for c in pre_shift),
        },
        "natural": {
            "replays": len(natural),
            "checks": natural_checks,
            "alarms": natural_alarms,
            "simulated_days": simulated_days,
            "pages": int(pages),
            "pages_per_day": pages / simulated_days if simulated_days else None,
            "days_with_mae_above_tolerance": worse_days,
            "raw_drift_alarms": sum(bool(c.raw_drifted) for r in natural for c in r.checks),
        },
    }
    figures["matched"]["is_met"] = (figures["matched"]["rate"] or 0.0) <= TARGET_MATCHED_ALARM_RATE
    figures["natural"]["is_met"] = bool(worse_days) or (figures["natural"]["pages_per_day"] or 0.0) <= (
        TARGET_NATURAL_PAGES_PER_DAY
    )
    for scenario, kind in (("covariate", "drift"), ("concept", "accuracy")):
        replays = [r for r in results if r.spec.scenario == scenario]
        delays = [delay(r, thresholds, kind) for r in replays]
        figures[scenario] = {
            "detected_by": kind,
            "start_hours": [r.spec.start_hour for r in replays],
            "delays_minutes": delays,
            "paged": [
                any(verdict(c, thresholds).page for c in r.checks if c.minute > (r.shift_minute or 0)) for r in replays
            ],
            "is_met": all(d is not None and d <= TARGET_DELAY_MINUTES for d in delays),
        }
    figures["is_met"] = all(figures[name]["is_met"] for name in ("matched", "natural", "covariate", "concept"))
    return figures


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def thresholds_fit(results: list[ReplayResult], args: argparse.Namespace, fixed: Thresholds) -> Thresholds:
    """The candidate thresholds that meet every target on these replays with the shortest detection delays.

    Ties (and no candidate meeting every target) go to the fewest false alarms: the matched alarm rate, then the
    natural paging rate; remaining ties to the strictest candidate (`Thresholds.strictness`: lowest alphas, then
    highest tolerance, floor h and minimum effect), so an equally good looser threshold is never chosen because
    the grid listed it first.
    """

    def score(candidate: Thresholds) -> tuple[float, ...]:
        figures = span_figures(results, candidate, args)
        delays = [d for name in ("covariate", "concept") for d in figures[name]["delays_minutes"]]
        missed = sum(d is None or d > TARGET_DELAY_MINUTES for d in delays)
        false_targets = (not figures["matched"]["is_met"]) + (not figures["natural"]["is_met"])
        return (
            false_targets + missed,
            float(np.mean([d if d is not None else 10 * TARGET_DELAY_MINUTES for d in delays])) if delays else 0.0,
            figures["matched"]["rate"] or 0.0,
            figures["natural"]["pages_per_day"] or 0.0,
            *candidate.strictness(),
        )

    candidates = [
        replace(
            fixed,
            drift_alpha=a,
            impact_tolerance=t,
            cusum_daily_alpha=c,
            cusum_min_effect=m,
            cusum_check_alpha=q,
            cusum_h=h,
            accuracy_alpha=w,
            cusum_segment_effect_sd=e,
        )
        for a in CANDIDATE_DRIFT_ALPHA
        for t in CANDIDATE_IMPACT_TOLERANCE
        for c in CANDIDATE_CUSUM_DAILY_ALPHA
        for m in CANDIDATE_CUSUM_MIN_EFFECT
        for q in CANDIDATE_CUSUM_CHECK_ALPHA
        for h in CANDIDATE_CUSUM_H
        for w in CANDIDATE_ACCURACY_ALPHA
        for e in CANDIDATE_SEGMENT_EFFECT_SD
    ]
    return min(candidates, key=score)


# ----- spans, folds, output -----


def span_replays(
    args: argparse.Namespace, history: Path, cutoff: dt.date, start: dt.date, end: dt.date, label: str
) -> tuple[dict[str, Any], list[ReplayResult]]:
    """Train (or reuse) the champion up to `cutoff`, build the pool of (start, end], report its difference from
    the reference and run every scenario's replays on it."""
    from monitoring.live.reference import drift_reference_get_or_build

    if args.previous is not None:  # --from-results: this span's replays as an earlier run stored them
        fold = next(f for f in args.previous["folds"] if f["cutoff"] == cutoff.isoformat())
        kind = "fit" if start == cutoff else "test"
        say(f"{label}: {len(fold['replays'][kind])} replays of {start + dt.timedelta(days=1)}..{end} read back")
        print_difference(fold[kind]["difference"])
        return fold[kind]["difference"], [replay_result_from(stored) for stored in fold["replays"][kind]]

    specs_wanted = [
        (scenario, i)
        for scenario, count in (
            ("matched", args.no_change_replays),
            ("natural", min(args.natural_replays, (end - start).days)),
            ("covariate", args.shift_replays),
            ("concept", args.shift_replays),
        )
        for i in range(count)
    ]
    cache = replay_cache(args, history, cutoff, start, end)
    cached = [cache / f"replay-{index}.json" for index in range(len(specs_wanted))]
    if (cache / "difference.json").exists() and all(path.exists() for path in cached):
        say(f"{label}: {len(cached)} replays of {start + dt.timedelta(days=1)}..{end} read from {cache}")
        difference = json.loads((cache / "difference.json").read_text())
        print_difference(difference)
        return difference, [replay_result_from(json.loads(path.read_text())) for path in cached]

    version, reused = champion_setup(history, cutoff)
    tenant = version.tenant
    epoch = replay_history_clear(tenant.pk)
    reference = drift_reference_get_or_build(version=version)
    pool = pool_build(tenant, version, reference, start, end, seed=args.seed)
    difference = pool_difference(pool, reference)
    say(
        f"{label}: champion {version} ({'reused' if reused else 'trained now'}, validation MAE "
        f"{version.metrics.get('mae'):.2f}), pool {len(pool.frame)} deliveries {pool.days[0]}..{pool.days[-1]}, "
        f"kinds of day {pool.day_types or '-'}"
    )
    print_difference(difference)
    specs = []
    for index, (scenario, i) in enumerate(specs_wanted):
        hours = SHIFT_START_HOURS if scenario in ("covariate", "concept") else NO_CHANGE_START_HOURS
        day = pool.days[i % len(pool.days)] if scenario == "natural" else None
        start_hour = hours[i % len(hours)]
        if day is not None and (day, start_hour) not in pool.rows_by_day_hour:
            # Long days of the bundled file have no orders before 17:00: start at the day's evening instead.
            start_hour = min(hour for d, hour in pool.rows_by_day_hour if d == day and hour >= 12)
        specs.append(ReplaySpec(scenario, index, start_hour, args.seed * 1000 + index, day))
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "difference.json").write_text(json.dumps(difference, default=str))
    results = []
    for spec in specs:
        path = cache / f"replay-{spec.index}.json"
        if path.exists():  # an interrupted run's replay: same span, model, seed and parameters
            results.append(replay_result_from(json.loads(path.read_text())))
            continue
        began = time.perf_counter()
        results.append(replay_run(spec, args, pool, tenant, version, epoch))
        path.write_text(json.dumps(asdict(results[-1]), default=str))
        say(
            f"  replay {spec.index} ({spec.scenario} {spec.day or ''} {spec.start_hour:02d}:00) "
            f"{time.perf_counter() - began:.0f}s"
        )
    return difference, results


def replay_cache(args: argparse.Namespace, history: Path, cutoff: dt.date, start: dt.date, end: dt.date) -> Path:
    """The folder of one span's stored replays: one per model cutoff, span, history file and replay parameters.

    The replays store statistics, not verdicts (see `verdict`), so new candidate thresholds re-use them; a replay
    is run again only when something that changes what it stores changes (the key), the checks' code included.
    """
    code = hashlib.sha256()
    for path in sorted([*ROOT.glob("monitoring/live/*.py"), *ROOT.glob("core/stats/*.py")]):
        code.update(path.read_bytes())
    key = {
        "checks_code": code.hexdigest(),
        "record_fields": sorted(CheckRecord.__dataclass_fields__),
        "history": str(history),
        "size": history.stat().st_size,
        "cutoff": cutoff.isoformat(),
        "span": [start.isoformat(), end.isoformat()],
        "walk_forward": args.walk_forward,
        "stored_floor": STORED_CUSUM_FLOOR if args.walk_forward else None,
        **{name: getattr(args, name) for name in REPLAY_PARAMETERS},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return args.cache_dir / f"{start}_{end}_model-{cutoff}_{digest}"


def replay_result_from(stored: dict[str, Any]) -> ReplayResult:
    """A `ReplayResult` read back from its JSON (`asdict`)."""
    checks = [
        CheckRecord(
            **{
                **check,
                "drift_tests": [tuple(test) for test in check["drift_tests"]],
                "cusum_streams": [tuple(stream) for stream in check["cusum_streams"]],
            }
        )
        for check in stored["checks"]
    ]
    return ReplayResult(**{**stored, "spec": ReplaySpec(**stored["spec"]), "checks": checks})


def print_difference(difference: dict[str, Any]) -> None:
    """The pool's per-feature difference from the reference, natural and matched, before any injection."""
    natural, matched = difference["natural"], difference["matched"]
    print(
        f"  pool vs reference before injection ({natural['rows']} rows; matched to its kinds of day {matched['rows']}):"
    )
    for feature, figures in natural.items():
        if feature == "rows":
            continue
        other = matched.get(feature) or {}
        print(
            f"    {feature:<28} {figures['metric']:<15} natural {figures['effect'] or 0:.3f} "
            f"(p={figures['p_value'] or 1:.1e})"
            f"  matched {other.get('effect') or 0:.3f} (p={other.get('p_value') or 1:.1e})"
        )


def print_figures(label: str, figures: dict[str, Any], thresholds: Thresholds) -> None:
    m, n = figures["matched"], figures["natural"]
    print(f"{label} with {thresholds.fitted()}:")
    print(
        f"  no change, matched pool: {m['alarms']}/{m['checks']} checks alarmed = {100 * (m['rate'] or 0):.1f}% "
        f"(drift {m['drift_alarms']}, accuracy {m['accuracy_alarms']}; before shifts {m['pre_shift_alarms']}/"
        f"{m['pre_shift_checks']}); target <= {100 * TARGET_MATCHED_ALARM_RATE:.0f}% -> "
        f"{'met' if m['is_met'] else 'NOT met'}"
    )
    print(
        f"  no change, natural next period: {n['pages']} pages over {n['simulated_days']:.2f} simulated days = "
        f"{n['pages_per_day'] or 0:.2f}/day; alarms {n['alarms']}/{n['checks']} checks; raw (unadjusted) drift on "
        f"{n['raw_drift_alarms']} checks; realized MAE above tolerance on "
        f"{n['days_with_mae_above_tolerance'] or 'no day'}"
        f"; target <= {TARGET_NATURAL_PAGES_PER_DAY:g}/day -> {'met' if n['is_met'] else 'NOT met'}"
    )
    for scenario, text in (("covariate", "jam share doubled"), ("concept", "area +20%")):
        f = figures[scenario]
        print(
            f"  {scenario} ({text}): found by {f['detected_by']} after {f['delays_minutes']} min from "
            f"{f['start_hours']} (paged {f['paged']}); target <= {TARGET_DELAY_MINUTES} -> "
            f"{'met' if f['is_met'] else 'NOT met'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--span-days", type=int, help="days per span (default 9; 4 with --walk-forward)")
    parser.add_argument("--rate", type=float, default=10.0, help="orders per simulated minute at the busiest hour")
    parser.add_argument("--check-minutes", type=int, default=5, help="simulated minutes between checks")
    parser.add_argument("--preroll-minutes", type=int, default=60, help="traffic before the first check")
    parser.add_argument("--warmup-minutes", type=int, default=60, help="checked no-change traffic before the shift")
    parser.add_argument("--shift-minutes", type=int, default=120, help="simulated minutes after T0")
    parser.add_argument("--no-change-replays", type=int, default=10, help="matched-pool no-change replays")
    parser.add_argument("--natural-replays", type=int, default=9, help="natural replays (one per pool day)")
    parser.add_argument("--shift-replays", type=int, default=3, help="replays of each shift scenario")
    parser.add_argument("--concept-area", default="metropolitan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--from-results",
        type=Path,
        help="with --walk-forward: fit and measure on the replays an earlier run wrote to this output file",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=ROOT / "var" / "bench-drift" / "replays", help="stored replays, reused"
    )
    parser.add_argument("--quick", action="store_true", help="one replay per scenario")
    parser.add_argument("--walk-forward", action="store_true", help="fit thresholds on a span, measure on the next")
    parser.add_argument("--folds", type=int, default=2, help="walk-forward folds")
    args = parser.parse_args(argv)
    args.previous = json.loads(args.from_results.read_text()) if args.from_results else None
    if args.quick:
        args.no_change_replays, args.natural_replays, args.shift_replays = 1, 1, 1
    span_days = args.span_days or (4 if args.walk_forward else 9)
    began = time.perf_counter()
    var_dir = ROOT / "var" / "bench-drift"
    var_dir.mkdir(parents=True, exist_ok=True)

    created = database_ensure(args.database_url)
    say(f"database {'created' if created else 'exists'}; migrating")
    django_setup(args, var_dir)
    history, history_kind = history_file(args, var_dir)
    from core.delivery.schema import load_clean_frame
    from tenants.constants import DEFAULT_TIME_ZONE

    frame, _ = load_clean_frame(history, time_zone=ZoneInfo(DEFAULT_TIME_ZONE))
    last_day = frame["ordered_at"].dt.tz_convert(ZoneInfo(DEFAULT_TIME_ZONE)).dt.date.max()
    production = Thresholds.from_settings()
    output: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/drift.py", *(argv if argv is not None else sys.argv[1:])]),
        "history": {"path": str(history), "kind": history_kind},
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("database_url", "previous")
        },
        "production_thresholds": asdict(production),
    }
    if not args.walk_forward:
        cutoff = last_day - dt.timedelta(days=span_days)
        difference, results = span_replays(args, history, cutoff, cutoff, last_day, "span")
        figures = span_figures(results, production, args)
        mismatches = sum(
            verdict(c, production).alarm != (c.drift_severity != "none" or c.degraded)
            for r in results
            for c in r.checks
        )
        print_figures(f"span {cutoff + dt.timedelta(days=1)}..{last_day}", figures, production)
        print(
            f"  (thresholds re-applied to the stored statistics disagree with the checks' own verdicts on "
            f"{mismatches} checks)"
        )
        met = figures["is_met"]
        output.update(
            cutoff=cutoff.isoformat(), difference=difference, figures=figures, replays=[asdict(r) for r in results]
        )
    else:
        folds = []
        for fold in range(args.folds):
            cutoff = last_day - dt.timedelta(days=(args.folds - fold + 1) * span_days)
            fit_end = cutoff + dt.timedelta(days=span_days)
            test_end = fit_end + dt.timedelta(days=span_days)
            fit_difference, fit_results = span_replays(args, history, cutoff, cutoff, fit_end, f"fold {fold} fit")
            chosen = thresholds_fit(fit_results, args, production)
            fit_figures = span_figures(fit_results, chosen, args)
            print_figures(f"fold {fold} fit span {cutoff + dt.timedelta(days=1)}..{fit_end}", fit_figures, chosen)
            test_difference, test_results = span_replays(args, history, cutoff, fit_end, test_end, f"fold {fold} test")
            test_figures = span_figures(test_results, chosen, args)
            print_figures(
                f"fold {fold} HELD-OUT span {fit_end + dt.timedelta(days=1)}..{test_end}", test_figures, chosen
            )
            folds.append(
                {
                    "cutoff": cutoff.isoformat(),
                    "chosen": chosen.fitted(),
                    "fit": {"difference": fit_difference, "figures": fit_figures},
                    "test": {"difference": test_difference, "figures": test_figures},
                    "replays": {
                        "fit": [asdict(r) for r in fit_results],
                        "test": [asdict(r) for r in test_results],
                    },
                }
            )
        # The defaults: the strictest of the folds' choices, so each threshold met the targets on every fit span.
        recommended = {
            "DRIFT_ALPHA": min(f["chosen"]["DRIFT_ALPHA"] for f in folds),
            "DRIFT_IMPACT_TOLERANCE_MINUTES": max(f["chosen"]["DRIFT_IMPACT_TOLERANCE_MINUTES"] for f in folds),
            "ACCURACY_CUSUM_DAILY_ALPHA": min(f["chosen"]["ACCURACY_CUSUM_DAILY_ALPHA"] for f in folds),
            "ACCURACY_CUSUM_MIN_EFFECT_MINUTES": max(f["chosen"]["ACCURACY_CUSUM_MIN_EFFECT_MINUTES"] for f in folds),
            "ACCURACY_CUSUM_CHECK_ALPHA": min(f["chosen"]["ACCURACY_CUSUM_CHECK_ALPHA"] for f in folds),
            "ACCURACY_CUSUM_H": max(f["chosen"]["ACCURACY_CUSUM_H"] for f in folds),
            "ACCURACY_ALPHA": min(f["chosen"]["ACCURACY_ALPHA"] for f in folds),
            # A larger effect needs fewer outcomes; 0 is no minimum at all, the loosest.
            "ACCURACY_CUSUM_SEGMENT_EFFECT_SD": min(
                (f["chosen"]["ACCURACY_CUSUM_SEGMENT_EFFECT_SD"] for f in folds), key=lambda d: d if d > 0 else math.inf
            ),
        }
        print(f"defaults chosen by the walk-forward (strictest over folds): {recommended}")
        met = all(f["test"]["figures"]["is_met"] for f in folds)
        output.update(folds=folds, recommended=recommended)
    output["seconds"] = time.perf_counter() - began
    output["platform"] = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2, default=str) + "\n")
    say(f"written to {args.output} ({time.perf_counter() - began:.0f}s in all)")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
