"""Time-series cross-validation of the ETA point model on a delivery file: per-fold MAE, MAPE, within 3/5/10.

    .venv/bin/python bench/cross_validation.py [--data PATH] [--folds 3] [--test-days 7]
        [--output bench/results/cross_validation.json]

Rolling origin over whole local days (`core.validation.time_series_folds`): each fold tests on
``--test-days`` days and trains `ETARegressor` (the product's point booster, default `TrainingConfig`) on
every delivery completed before them, through scikit-learn's ``cross_validate``.
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
from sklearn.model_selection import cross_validate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.delivery.schema import load_clean_frame  # noqa: E402
from core.features import build_training_features  # noqa: E402
from core.model import TrainingConfig  # noqa: E402
from core.validation import CV_SCORING, ETARegressor, TimeSeriesDaySplit  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "cross_validation.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--min-train-days", type=int, default=14)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"no delivery file at {args.data}")
    time_zone = ZoneInfo(args.time_zone)

    deliveries, _ = load_clean_frame(args.data, time_zone=time_zone)
    features = build_training_features(deliveries, time_zone=time_zone)
    try:
        splitter = TimeSeriesDaySplit(
            deliveries["ordered_at"],
            deliveries["delivery_minutes"],
            time_zone=time_zone,
            folds=args.folds,
            test_days=args.test_days,
            min_train_days=args.min_train_days,
        )
        folds = list(splitter.split(features))
    except ValueError as error:
        sys.exit(str(error))
    started = time.perf_counter()
    scores = cross_validate(
        ETARegressor.from_config(TrainingConfig()),
        features.assign(ordered_at=deliveries["ordered_at"]),
        deliveries["delivery_minutes"],
        cv=splitter,
        scoring=CV_SCORING,
    )
    seconds = time.perf_counter() - started

    rows = []
    print(f"{'fold':>4} {'train':>7} {'test':>6} {'MAE':>6} {'MAPE':>6} {'<=3':>6} {'<=5':>6} {'<=10':>6} {'fit s':>6}")
    for index, (train, test) in enumerate(folds):
        row = {
            "fold": index,
            "train_rows": len(train),
            "test_rows": len(test),
            "mae": float(-scores["test_mae"][index]),
            "mape": float(-scores["test_mape"][index]),
            "within_3_min": float(scores["test_within_3_min"][index]),
            "within_5_min": float(scores["test_within_5_min"][index]),
            "within_10_min": float(scores["test_within_10_min"][index]),
            "fit_seconds": float(scores["fit_time"][index]),
        }
        rows.append(row)
        print(
            f"{index:>4} {len(train):>7} {len(test):>6} {row['mae']:>6.3f} {row['mape']:>6.1%} "
            f"{row['within_3_min']:>6.1%} {row['within_5_min']:>6.1%} {row['within_10_min']:>6.1%} "
            f"{row['fit_seconds']:>6.1f}"
        )
    mean_mae = float(np.mean([row["mae"] for row in rows]))
    print(f"mean MAE {mean_mae:.3f} min over {len(rows)} folds; cross-validation {seconds:.1f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "folds": rows,
                "mean_mae": mean_mae,
                "seconds": seconds,
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
