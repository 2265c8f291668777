"""Accuracy bench for the ETA model: train up to a cutoff, test on the days after, beside two baselines.

    .venv/bin/python bench/accuracy.py [--data PATH] [--test-days 7] [--output bench/results/accuracy.json]

The last ``--test-days`` calendar days of the file are the test set; the model trains on deliveries
completed before them (its own validation window, the last days of that period, picks rounds, feature set
and calibration). Baselines: the training mean, and a plain XGBoost on raw order columns. Also measures
the single-row serving cost (predict, predict + TreeSHAP) of the chosen model, since accuracy must not be
bought with a model too slow to serve. Targets: MAE <= 3.45 min, >= 76% within 5 min, p05-p95 coverage
in [88%, 92%].
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import xgboost as xgb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.delivery.schema import load_clean_frame  # noqa: E402
from core.evaluation import EvaluationReport, delivery_segments, evaluate  # noqa: E402
from core.features import build_training_features  # noqa: E402
from core.model import ETAPredictor, default_candidates, train_best_of  # noqa: E402
from registry.constants import TARGET_INTERVAL_COVERAGE, TARGET_MAE_MINUTES, TARGET_WITHIN_5_MIN  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "accuracy.json"
RAW_BASELINE_COLUMNS = (
    "distance_km",
    "order_hour",
    "weather",
    "traffic",
    "vehicle",
    "area",
    "courier_age",
    "courier_rating",
)
LATENCY_ROWS = 500


def _raw_xgboost_baseline(features: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The README's "plain XGBoost on raw columns": fixed parameters, no history, no early stopping."""
    frame = features[list(RAW_BASELINE_COLUMNS)].copy()
    for name in ("weather", "traffic", "vehicle", "area"):
        frame[name] = frame[name].astype("category")
    model = xgb.XGBRegressor(
        n_estimators=400,
        learning_rate=0.05,
        max_depth=6,
        tree_method="hist",
        enable_categorical=True,
        n_jobs=1,
        random_state=0,
    )
    model.fit(frame[train], y[train])
    return model.predict(frame[test]).astype(np.float64)


def _latency_ms(model: ETAPredictor, features: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per-call wall time of the single-row serving path, over up to LATENCY_ROWS feature vectors."""
    vectors = features.head(LATENCY_ROWS).to_dict(orient="records")
    figures: dict[str, dict[str, float]] = {}
    for label, explain in (("predict", False), ("predict_and_explain", True)):
        model.predict(vectors[0], explain=explain)  # warm-up: first call allocates XGBoost's buffers
        timings = []
        for vector in vectors:
            start = time.perf_counter()
            model.predict(vector, explain=explain)
            timings.append((time.perf_counter() - start) * 1000)
        figures[label] = {
            "p50": float(np.percentile(timings, 50)),
            "p99": float(np.percentile(timings, 99)),
            "max": float(np.max(timings)),
        }
    return figures


def _print_report(label: str, report: EvaluationReport) -> None:
    m = report.overall
    r2 = "n/a" if m.r2 is None else f"{m.r2:.3f}"
    coverage = "" if m.interval_coverage is None else f"  p05-p95 coverage {m.interval_coverage:.1%}"
    print(f"{label:<28} MAE {m.mae:.3f}  RMSE {m.rmse:.3f}  R² {r2}  within 5 min {m.within_5_min:.1%}{coverage}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    time_zone = ZoneInfo(args.time_zone)

    started = time.perf_counter()
    deliveries, rejected = load_clean_frame(args.data, time_zone=time_zone)
    deliveries = deliveries.sort_values("ordered_at", kind="stable").reset_index(drop=True)
    feature_start = time.perf_counter()
    features = build_training_features(deliveries, time_zone=time_zone)
    feature_seconds = time.perf_counter() - feature_start

    local_dates = deliveries["ordered_at"].dt.tz_convert(time_zone).dt.normalize()
    cutoff = local_dates.max() - pd.Timedelta(days=args.test_days - 1)
    completed_at = deliveries["ordered_at"] + pd.to_timedelta(deliveries["delivery_minutes"], unit="min")
    # Train only on outcomes known at the cutoff: an order placed just before it may complete after it.
    train = (completed_at < cutoff).to_numpy()
    test = (deliveries["ordered_at"] >= cutoff).to_numpy()
    y = deliveries["delivery_minutes"].to_numpy(dtype=np.float64)
    segments = {name: labels[test] for name, labels in delivery_segments(deliveries).items()}

    train_start = time.perf_counter()
    model, tried = train_best_of(
        features[train], y[train], ordered_at=deliveries["ordered_at"][train], candidates=default_candidates()
    )
    train_seconds = time.perf_counter() - train_start
    batch = model.predict_frame(features[test])

    reports = {
        "training_mean": evaluate(y[test], np.full(test.sum(), y[train].mean()), segments=segments),
        "raw_xgboost": evaluate(y[test], _raw_xgboost_baseline(features, y, train, test), segments=segments),
        "eta_predictor": evaluate(
            y[test], batch.eta_minutes, lower=batch.quantile("p05"), upper=batch.quantile("p95"), segments=segments
        ),
    }
    overall = reports["eta_predictor"].overall
    targets = {
        "mae": {"target": TARGET_MAE_MINUTES, "value": overall.mae, "is_met": overall.mae <= TARGET_MAE_MINUTES},
        "within_5_min": {
            "target": TARGET_WITHIN_5_MIN,
            "value": overall.within_5_min,
            "is_met": overall.within_5_min >= TARGET_WITHIN_5_MIN,
        },
        "interval_coverage": {
            "target": list(TARGET_INTERVAL_COVERAGE),
            "value": overall.interval_coverage,
            "is_met": TARGET_INTERVAL_COVERAGE[0] <= (overall.interval_coverage or 0.0) <= TARGET_INTERVAL_COVERAGE[1],
        },
    }
    latency = _latency_ms(model, features[test])

    print(f"data: {args.data} ({len(deliveries)} clean rows, {len(rejected)} refused)")
    print(f"train: {int(train.sum())} deliveries completed before {cutoff.date()}; test: {int(test.sum())} after")
    for candidate in tried:
        print(f"  candidate {len(candidate.feature_names)} features: validation MAE {candidate.validation_mae:.3f}")
    print(
        f"chosen: {len(model.feature_names)} features, point {model.summary.point_rounds} trees (depth "
        f"{model.config.max_depth}), quantiles {model.summary.quantile_rounds} rounds x 5 (depth "
        f"{model.config.quantile_max_depth}); artifact {len(model.to_bytes()) / 1e6:.1f} MB sha256 {model.sha256[:12]}"
    )
    for label, report in reports.items():
        _print_report(label, report)
    worst = reports["eta_predictor"].worst_segment
    if worst is not None:
        print(
            f"worst segment: {worst.dimension}={worst.value} MAE {worst.metrics.mae:.3f} "
            f"(+{worst.mae_gap:.3f} over overall, {worst.metrics.count} deliveries)"
        )
    for name, target in targets.items():
        print(
            f"target {name}: {target['value']:.4f} vs {target['target']} -> {'met' if target['is_met'] else 'NOT met'}"
        )
    for label, figures in latency.items():
        print(f"single-row {label}: p50 {figures['p50']:.2f} ms, p99 {figures['p99']:.2f} ms")
    print(f"features {feature_seconds:.1f}s, training {train_seconds:.0f}s, total {time.perf_counter() - started:.0f}s")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "data": str(args.data),
        "cutoff": cutoff.isoformat(),
        "train_rows": int(train.sum()),
        "test_rows": int(test.sum()),
        "candidates": [
            {"features": len(c.feature_names), "validation_mae": c.validation_mae, "sha256": c.sha256} for c in tried
        ],
        "model": {
            "sha256": model.sha256,
            "artifact_bytes": len(model.to_bytes()),
            "feature_names": list(model.feature_names),
            "summary": model.summary.__dict__,
            "calibration": model.calibration.__dict__,
            "config": model.config.as_dict(),
        },
        "reports": {label: report.as_dict() for label, report in reports.items()},
        "targets": targets,
        "single_row_latency_ms": latency,
        "seconds": {"features": feature_seconds, "training": train_seconds},
        "platform": {"python": platform.python_version(), "xgboost": xgb.__version__, "machine": platform.machine()},
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
