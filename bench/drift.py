"""Drift bench: deliveries replayed as live traffic in simulated time through the real monitoring checks.

    .venv/bin/python bench/drift.py                    # full run (~4 min, a minute more the first time)
    .venv/bin/python bench/drift.py --quick            # smoke run: one replay per scenario
    .venv/bin/python bench/drift.py --concept-area urban   # the concept shift in a smaller area

Setup (kept between runs, in its own PostgreSQL database ``--database-url``): a tenant with the bundled
delivery history imported (a synthetic one when ``../shared`` is absent) and a champion trained with
``eta_model_train`` on the history up to ``--replay-days`` before its end. The deliveries after that cutoff,
never seen by training or its validation window, are the pool replayed as live traffic. Each pool row keeps
the feature vector serving would have computed for it at its real order time (the offline builder against the
whole history: one definition, two executions), and the champion's ETA for that vector.

A replay runs a simulated clock for ``--warmup-minutes`` + ``--shift-minutes`` from a local hour of the day,
after ``--preroll-minutes`` of traffic nobody checks (live traffic does not start from nothing, and the first
outcomes after a cold start are the fastest deliveries, whose errors lean one way). Each simulated minute,
Poisson(``--rate`` x the hour's share of the busiest hour's traffic in the pool) orders are drawn, without
replacement until used up, from the pool rows placed at that hour of day, so the traffic keeps the file's
time-of-day structure and volume profile. Orders are written as `PredictionAudit` rows stamped with their
simulated time; each outcome (`PredictionOutcome`, joined to the order's stored delivery) is written when the
delivery ends in simulated time. Every ``--check-minutes`` the real `monitoring_checks_run` runs for that
instant: drift, realized accuracy and live data quality, with the settings' defaults (retraining on alerts
off: training is not what is measured here).

The bundled file alternates long-distance and short-distance days (mean distance 14.8 km vs 7.1 km on
alternate dates, with different area mixes): a replay mixes the pool's days, and the default nine replay days
hold the same mix of the two kinds as the two-week reference before them. A replay of a single day would show
that day's kind as distance drift, rightly: it is not the training mix.

Scenarios, from the end of the warm-up (T0):
- no change: nothing happens; every check that declares drift or degradation is a false alarm.
- covariate shift: the traffic-jam share doubles (the file's overall jam share is added to every hour: that
  share of orders that were not jams become jams, and the champion scores the changed vector).
- concept shift: delivery times of one area (``--concept-area``) rise 20%; the features do not change, so only
  realized accuracy on reported outcomes can see it.

Reported: detection delay in simulated minutes from T0 to the first check that flags the shift (target: every
injected shift within 60), and the false-alarm rate over the checks of the no-change replays (target <= 5%);
for realized accuracy also which of its alarms came from its CUSUM, and which stream (all outcomes or a segment,
with the direction) that was.
Figures on stdout and in bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
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
TARGET_FALSE_ALARM_RATE = 0.05
CONCEPT_FACTOR = 1.2
# Local start hours of the replays, cycled: morning, lunch, afternoon and the evening peak, so the
# false-alarm rate is not measured at one time of day only.
NO_CHANGE_START_HOURS = (8, 11, 14, 17, 20)
SHIFT_START_HOURS = (17, 9, 13)
# Simulated replays start on this date, one every REPLAY_SPACING_DAYS, far from each other so no window
# (60 minutes of drift, 24 hours of accuracy) ever sees another replay's traffic.
SIMULATION_EPOCH = dt.date(2030, 1, 7)
REPLAY_SPACING_DAYS = 3


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----- setup -----


def django_setup(args: argparse.Namespace, var_dir: Path) -> None:
    """Point Django at the bench database and files, with the monitoring defaults; then set it up."""
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
    from registry.models import ModelAlias
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
    """Remove earlier runs' reports, alerts and drift reference; return the first free simulated date.

    Audits and outcomes are append-only (the database refuses to delete them), so a new run simulates days
    after every earlier run's traffic instead; the reference is rebuilt on the first check, from this run's
    settings (a stored reference keeps those it was built with).
    """
    from django.db.models import Max

    from monitoring.models import (
        AccuracyReport,
        Alert,
        AlertNotification,
        DriftReference,
        DriftReport,
        RetrainingTrigger,
    )
    from predictions.models import PredictionAudit

    RetrainingTrigger.objects.filter(tenant_id=tenant_id).delete()
    DriftReport.objects.filter(tenant_id=tenant_id).delete()
    AccuracyReport.objects.filter(tenant_id=tenant_id).delete()
    DriftReference.objects.filter(tenant_id=tenant_id).delete()
    AlertNotification.objects.filter(alert__tenant_id=tenant_id).delete()
    Alert.objects.filter(tenant_id=tenant_id).delete()
    latest = PredictionAudit.objects.filter(tenant_id=tenant_id).aggregate(latest=Max("created_at"))["latest"]
    if latest is None:
        return SIMULATION_EPOCH
    return max(SIMULATION_EPOCH, latest.date() + dt.timedelta(days=REPLAY_SPACING_DAYS))


# ----- the replay pool -----


@dataclass
class Pool:
    """The post-cutoff deliveries with the vectors, ETAs and outcomes a replay draws from."""

    frame: pd.DataFrame  # clean delivery columns
    vectors: pd.DataFrame  # FEATURE_NAMES, point-in-time
    records: list[dict[str, Any]]  # vectors as JSON-ready dicts (NaN as None)
    eta: np.ndarray
    is_ood: np.ndarray
    delivery_ids: np.ndarray
    rows_by_hour: dict[int, np.ndarray]
    jam_share: float

    def hour_weight(self, hour: int) -> float:
        """The hour's traffic relative to the busiest hour of the pool (the file's time-of-day profile)."""
        busiest = max(rows.size for rows in self.rows_by_hour.values())
        return self.rows_by_hour[hour].size / busiest if hour in self.rows_by_hour else 0.0


def pool_build(tenant: Any, version: Any, cutoff: dt.date) -> Pool:
    from core.features import build_features
    from deliveries.models import Delivery
    from deliveries.selectors import deliveries_frame
    from registry.training import model_version_load

    time_zone = ZoneInfo(tenant.time_zone)
    history = deliveries_frame(tenant=tenant)
    local_dates = history["ordered_at"].dt.tz_convert(time_zone).dt.date
    frame = history[(local_dates > cutoff).to_numpy()].reset_index(drop=True)
    vectors = build_features(frame, history=history, time_zone=time_zone)
    predictor = model_version_load(version=version)
    records = vectors.astype(object).where(vectors.notna(), None).to_dict(orient="records")
    ids = dict(Delivery.objects.filter(tenant=tenant).values_list("external_order_id", "id"))
    hours = frame["ordered_at"].dt.tz_convert(time_zone).dt.hour.to_numpy()
    return Pool(
        frame=frame,
        vectors=vectors,
        records=records,
        eta=predictor.predict_frame(vectors).eta_minutes,
        is_ood=predictor.out_of_range_mask(vectors),
        delivery_ids=np.array([ids[order_id] for order_id in frame["external_order_id"]]),
        rows_by_hour={hour: np.flatnonzero(hours == hour) for hour in range(24) if (hours == hour).any()},
        jam_share=float((history["traffic"] == "jam").mean()),
    )


# ----- one replay -----


@dataclass(frozen=True)
class ReplaySpec:
    scenario: str  # "no_change" | "covariate" | "concept"
    index: int
    start_hour: int
    seed: int


@dataclass
class CheckRecord:
    """What one check at one simulated minute said."""

    minute: int
    drift_status: str
    drift_severity: str
    drifted: list[str]
    n_current: int
    n_reference: int
    accuracy_status: str
    recent_outcomes: int
    recent_mae: float | None
    mae: float | None
    degraded: bool
    cusum_ratio: float | None  # the accuracy check's largest CUSUM statistic over its threshold
    cusum_alarms: list[str]  # the CUSUM streams in alarm, e.g. "area=urban slower"
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

    def detection(self, kind: str) -> int | None:
        """Simulated minutes from the shift to the first check after it that flags `kind` (drift/accuracy/any)."""
        if self.shift_minute is None:
            return None
        for check in self.checks:
            if check.minute <= self.shift_minute:
                continue
            is_drift = check.drift_status == "ok" and check.drift_severity != "none"
            flagged = {
                "drift": is_drift,
                "accuracy": check.degraded,
                "cusum": bool(check.cusum_alarms),
                "any": is_drift or check.degraded,
            }[kind]
            if flagged:
                return check.minute - self.shift_minute
        return None


def replay_run(
    spec: ReplaySpec, args: argparse.Namespace, pool: Pool, tenant: Any, version: Any, epoch: dt.date
) -> ReplayResult:
    from monitoring.live.checks import monitoring_checks_run
    from monitoring.models import AccuracyReport, DriftReport
    from predictions.choices import PredictionSource
    from predictions.models import PredictionAudit, PredictionOutcome
    from registry.training import model_version_load

    time_zone = ZoneInfo(tenant.time_zone)
    rng = np.random.default_rng(spec.seed)
    day = epoch + dt.timedelta(days=REPLAY_SPACING_DAYS * spec.index)
    start = dt.datetime.combine(day, dt.time(spec.start_hour), tzinfo=time_zone).astimezone(dt.UTC)
    total = args.warmup_minutes + args.shift_minutes
    shift_minute = None if spec.scenario == "no_change" else args.warmup_minutes

    # The orders: per simulated minute, Poisson(rate x the hour's share of the busiest hour's traffic) pool rows
    # of that local hour, at uniform seconds. Drawn without replacement (each hour's rows shuffled, reshuffled
    # when used up): a window of orders that repeat rows would make sampling noise of the pool look significant.
    rows: list[int] = []
    offsets: list[float] = []
    queues: dict[int, list[int]] = {}
    # Traffic flows for --preroll-minutes before the first check: live traffic does not start from nothing, and
    # the first outcomes after a cold start are the fastest deliveries, whose errors lean one way.
    for minute in range(-args.preroll_minutes, total):
        hour = (start + dt.timedelta(minutes=minute)).astimezone(time_zone).hour
        count = int(rng.poisson(args.rate * pool.hour_weight(hour)))
        for _ in range(count):
            if not queues.get(hour):
                queues[hour] = rng.permutation(pool.rows_by_hour[hour]).tolist()
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
        accuracy = AccuracyReport.objects.get(pk=run.accuracy_reports[0])
        result.checks.append(
            CheckRecord(
                minute=minute,
                drift_status=drift.status,
                drift_severity=drift.severity,
                drifted=list(drift.drifted_features)
                + (["prediction"] if (drift.result.get("prediction") or {}).get("is_drifted") else [])
                + (["multivariate"] if (drift.result.get("multivariate") or {}).get("is_drifted") else []),
                n_current=drift.n_current,
                n_reference=drift.n_reference,
                accuracy_status=accuracy.status,
                recent_outcomes=accuracy.recent_outcomes,
                recent_mae=accuracy.recent_mae,
                mae=accuracy.mae,
                degraded=accuracy.is_degraded,
                cusum_ratio=accuracy.cusum_ratio,
                cusum_alarms=cusum_alarms(accuracy.change_detection),
                quality_score=run.quality_score,
                seconds=seconds,
            )
        )
    return result


def cusum_alarms(detection: dict[str, Any]) -> list[str]:
    """The accuracy check's CUSUM streams in alarm, named with their direction ("area=urban slower")."""
    streams = [detection["overall"], *detection["segments"]] if detection else []
    return [
        f"{'all' if stream['dimension'] == 'all outcomes' else stream['dimension'] + '=' + stream['value']} "
        f"{stream['direction']}"
        for stream in streams
        if stream["is_alarm"]
    ]


def cusum_label(alarms: list[str]) -> str:
    """The first two CUSUM streams in alarm, and how many more: "[all slower, area=urban slower +3]"."""
    if not alarms:
        return ""
    more = f" +{len(alarms) - 2}" if len(alarms) > 2 else ""
    return f"[{', '.join(alarms[:2])}{more}]"


# ----- summary -----


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(results: list[ReplayResult], baseline_mae: float | None) -> dict[str, Any]:
    no_change = [result for result in results if result.spec.scenario == "no_change"]
    drift_checks = [check for result in no_change for check in result.checks if check.drift_status == "ok"]
    accuracy_checks = [check for result in no_change for check in result.checks if check.accuracy_status == "ok"]
    all_checks = [check for result in no_change for check in result.checks]
    drift_alarms = [check for check in drift_checks if check.drift_severity != "none"]
    accuracy_alarms = [check for check in accuracy_checks if check.degraded]
    any_alarms = [check for check in all_checks if check.drift_severity != "none" or check.degraded]
    # Shift replays before the shift are no-change traffic too: reported beside, not mixed in.
    pre_shift = [
        check
        for result in results
        if result.shift_minute is not None
        for check in result.checks
        if check.minute <= result.shift_minute
    ]
    false_alarm = {
        "checks": len(all_checks),
        "drift_checks_with_verdict": len(drift_checks),
        "drift_alarms": len(drift_alarms),
        "drift_rate": rate(len(drift_alarms), len(drift_checks)),
        "accuracy_checks_with_verdict": len(accuracy_checks),
        "accuracy_alarms": len(accuracy_alarms),
        "accuracy_rate": rate(len(accuracy_alarms), len(accuracy_checks)),
        "cusum_alarms": sum(1 for check in accuracy_checks if check.cusum_alarms),
        "cusum_streams_in_alarms": pd.Series([a for c in accuracy_checks for a in c.cusum_alarms])
        .value_counts()
        .to_dict(),
        "any_alarm": len(any_alarms),
        "any_rate": rate(len(any_alarms), len(all_checks)),
        "drifted_features_in_alarms": pd.Series([f for c in drift_alarms for f in c.drifted]).value_counts().to_dict(),
        "pre_shift_checks": len(pre_shift),
        "pre_shift_alarms": sum(1 for c in pre_shift if c.drift_severity != "none" or c.degraded),
    }
    false_alarm["is_met"] = (false_alarm["any_rate"] or 0.0) <= TARGET_FALSE_ALARM_RATE
    detection: dict[str, Any] = {}
    # Each shift is meant for one detector: features change under a covariate shift, outcomes under a concept
    # shift. The delay is that detector's; the other's and the first of either are reported beside it.
    for scenario, kind in (("covariate", "drift"), ("concept", "accuracy")):
        replays = [result for result in results if result.spec.scenario == scenario]
        delays = [result.detection(kind) for result in replays]
        detection[scenario] = {
            "replays": len(replays),
            "start_hours": [result.spec.start_hour for result in replays],
            "detected_by": kind,
            "delays_minutes": delays,
            "delays_by_drift": [result.detection("drift") for result in replays],
            "delays_by_accuracy": [result.detection("accuracy") for result in replays],
            "delays_by_cusum": [result.detection("cusum") for result in replays],
            "first_cusum_alarms": [
                next(
                    (c.cusum_alarms for c in result.checks if c.minute > (result.shift_minute or 0) and c.cusum_alarms),
                    [],
                )
                for result in replays
            ],
            "delays_by_either": [result.detection("any") for result in replays],
            "max_delay_minutes": max((d for d in delays if d is not None), default=None),
            "is_met": bool(replays) and all(d is not None and d <= TARGET_DELAY_MINUTES for d in delays),
        }
    seconds = [check.seconds for result in results for check in result.checks]
    return {
        "false_alarm": false_alarm,
        "detection": detection,
        "baseline_mae": baseline_mae,
        "check_seconds": {"p50": float(np.percentile(seconds, 50)), "max": float(np.max(seconds))} if seconds else None,
    }


def print_summary(summary: dict[str, Any], results: list[ReplayResult], args: argparse.Namespace) -> None:
    for result in results:
        flagged = [
            f"{c.minute}:{'D' if c.drift_severity != 'none' else ''}{'A' if c.degraded else ''}"
            f"{cusum_label(c.cusum_alarms)}"
            for c in result.checks
            if c.drift_severity != "none" or c.degraded
        ]
        shift = (
            f", shift at {result.shift_minute} min ({result.changed_orders} orders changed)"
            if result.shift_minute
            else ""
        )
        first_mae = next((c.recent_mae for c in result.checks if c.recent_mae is not None), None)
        print(
            f"  {result.spec.scenario:<9} #{result.spec.index:<2} from {result.spec.start_hour:02d}:00 local: "
            f"{result.orders} orders, {len(result.checks)} checks{shift}; flagged (min:D=drift,A=accuracy[CUSUM]) "
            f"{' '.join(flagged) or '-'}; first recent MAE {first_mae if first_mae is None else round(first_mae, 2)}"
        )
    fa = summary["false_alarm"]
    replays = sum(1 for result in results if result.spec.scenario == "no_change")
    print(
        f"false alarms over {replays} no-change replays: {fa['any_alarm']}/{fa['checks']} checks = "
        f"{100 * (fa['any_rate'] or 0):.1f}% "
        f"(drift {fa['drift_alarms']}/{fa['drift_checks_with_verdict']}, accuracy "
        f"{fa['accuracy_alarms']}/{fa['accuracy_checks_with_verdict']}); target <= "
        f"{100 * TARGET_FALSE_ALARM_RATE:.0f}% -> {'met' if fa['is_met'] else 'NOT met'}"
    )
    print(f"  accuracy alarms with a CUSUM alarm: {fa['cusum_alarms']} ({fa['cusum_streams_in_alarms'] or '-'})")
    if fa["drifted_features_in_alarms"]:
        print(f"  features in false drift alarms: {fa['drifted_features_in_alarms']}")
    print(f"  shift replays before their shift: {fa['pre_shift_alarms']}/{fa['pre_shift_checks']} checks flagged")
    for scenario, figures in summary["detection"].items():
        label = {
            "covariate": "covariate shift (jam share doubled)",
            "concept": f"concept shift ({args.concept_area} +20%)",
        }
        starts = [f"{hour:02d}:00" for hour in figures["start_hours"]]
        print(
            f"{label[scenario]}: detected by {figures['detected_by']} after {figures['delays_minutes']} simulated "
            f"min, replays from {starts} (by drift {figures['delays_by_drift']}, by accuracy "
            f"{figures['delays_by_accuracy']}, by its CUSUM {figures['delays_by_cusum']}; first CUSUM alarms "
            f"{figures['first_cusum_alarms']}); target <= {TARGET_DELAY_MINUTES} -> "
            f"{'met' if figures['is_met'] else 'NOT met'}"
        )
    if summary["check_seconds"]:
        print(
            f"one tenant's checks per tick: p50 {summary['check_seconds']['p50']:.2f} s, "
            f"max {summary['check_seconds']['max']:.2f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--replay-days", type=int, default=9, help="the file's last days: the pool, not trained on")
    parser.add_argument("--rate", type=float, default=10.0, help="orders per simulated minute at the busiest hour")
    parser.add_argument("--check-minutes", type=int, default=5, help="simulated minutes between checks")
    parser.add_argument("--preroll-minutes", type=int, default=60, help="traffic before the first check")
    parser.add_argument("--warmup-minutes", type=int, default=60, help="checked no-change traffic before the shift")
    parser.add_argument("--shift-minutes", type=int, default=120, help="simulated minutes after T0")
    parser.add_argument("--no-change-replays", type=int, default=20)
    parser.add_argument("--shift-replays", type=int, default=6, help="replays of each shift scenario")
    parser.add_argument("--concept-area", default="metropolitan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="one replay per scenario")
    args = parser.parse_args(argv)
    if args.quick:
        args.no_change_replays, args.shift_replays = 1, 1
    began = time.perf_counter()
    var_dir = ROOT / "var" / "bench-drift"
    var_dir.mkdir(parents=True, exist_ok=True)

    created = database_ensure(args.database_url)
    say(f"database {'created' if created else 'exists'}; migrating")
    django_setup(args, var_dir)
    from django.conf import settings

    history, history_kind = history_file(args, var_dir)
    from core.delivery.schema import load_clean_frame
    from tenants.constants import DEFAULT_TIME_ZONE

    frame, _ = load_clean_frame(history, time_zone=ZoneInfo(DEFAULT_TIME_ZONE))
    last_day = frame["ordered_at"].dt.tz_convert(ZoneInfo(DEFAULT_TIME_ZONE)).dt.date.max()
    cutoff = last_day - dt.timedelta(days=args.replay_days)
    version, reused = champion_setup(history, cutoff)
    tenant = version.tenant
    say(f"champion {version} ({'reused' if reused else 'trained now'}), validation MAE {version.metrics.get('mae')}")
    epoch = replay_history_clear(tenant.pk)
    pool = pool_build(tenant, version, cutoff)
    say(f"pool: {len(pool.frame)} deliveries after {cutoff} ({history_kind} history); jam share {pool.jam_share:.1%}")

    specs = [
        ReplaySpec("no_change", i, NO_CHANGE_START_HOURS[i % len(NO_CHANGE_START_HOURS)], args.seed * 1000 + i)
        for i in range(args.no_change_replays)
    ]
    for scenario in ("covariate", "concept"):
        for j in range(args.shift_replays):
            index = len(specs)
            specs.append(
                ReplaySpec(scenario, index, SHIFT_START_HOURS[j % len(SHIFT_START_HOURS)], args.seed * 1000 + index)
            )
    results = []
    for spec in specs:
        replay_began = time.perf_counter()
        results.append(replay_run(spec, args, pool, tenant, version, epoch))
        say(
            f"replay {spec.index} ({spec.scenario}, {spec.start_hour:02d}:00) "
            f"done in {time.perf_counter() - replay_began:.0f}s"
        )

    summary = summarise(results, version.metrics.get("mae"))
    print_summary(summary, results, args)
    output = {
        "command": " ".join([".venv/bin/python", "bench/drift.py", *(argv if argv is not None else sys.argv[1:])]),
        "history": {"path": str(history), "kind": history_kind, "cutoff": cutoff.isoformat()},
        "champion": {"version": str(version), "validation_mae": version.metrics.get("mae"), "reused": reused},
        "parameters": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
            if key != "database_url"
        },
        "settings": {
            name: getattr(settings, name)
            for name in dir(settings)
            if name.startswith(("DRIFT_", "ACCURACY_", "LIVE_")) or name == "MONITORING_CHECK_MINUTES"
        },
        "summary": summary,
        "replays": [asdict(result) for result in results],
        "seconds": time.perf_counter() - began,
        "platform": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2, default=str) + "\n")
    say(f"written to {args.output} ({time.perf_counter() - began:.0f}s in all)")
    met = summary["false_alarm"]["is_met"] and all(f["is_met"] for f in summary["detection"].values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
