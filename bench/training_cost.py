"""CPU seconds and peak memory of local training on rows of a training snapshot.

Runs what `train_eta` runs after reading history (point-in-time features, then `train_best_of` on the rows
before the evaluation window) on about ``--rows`` rows of a version's frozen Parquet snapshot (every k-th), with
the candidates new versions use (``new``: two threads, quantile booster on a seeded sample) or the ones
versions used before (``legacy``: one thread, every fit row). Times are `time.process_time` (all threads of
this process), so a loaded host does not inflate them; peak memory is this process's maximum resident set.

    .venv/bin/python bench/training_cost.py ARTIFACT_ROOT/<tenant>/eta/v<N>/training-rows-<sha256>.parquet \
        --rows 200000 --candidates new --output var/bench/training_cost.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.delivery.columnar import history_frame, history_table
from core.features import build_training_features
from core.model import default_candidates, train_best_of
from registry.constants import EVALUATION_DAYS


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--candidates", choices=("new", "legacy"), default="new")
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--output", type=Path, default=Path("var/bench/training_cost.json"))
    args = parser.parse_args()
    candidates = default_candidates()
    if args.candidates == "legacy":
        candidates = tuple(replace(config, nthread=1, quantile_fit_rows=None) for config in candidates)

    table = pq.read_table(args.snapshot)
    # Every k-th row, not the first rows: the history keeps its span of days, so the validation and
    # evaluation windows (days, not rows) keep their share of the rows at every size.
    history = history_frame(history_table(table.take(np.arange(0, len(table), max(1, len(table) // args.rows)))))
    del table
    read_rss = _peak_rss_bytes()
    started = time.process_time()
    features = build_training_features(history, time_zone=ZoneInfo(args.time_zone))
    features_cpu = time.process_time() - started
    evaluation_start = history["ordered_at"].max() - pd.Timedelta(days=EVALUATION_DAYS)
    train = slice(0, int((history["ordered_at"] <= evaluation_start).sum()))
    started = time.process_time()
    model, tried = train_best_of(
        features.iloc[train],
        history["delivery_minutes"].iloc[train],
        ordered_at=history["ordered_at"].iloc[train],
        candidates=candidates,
    )
    training_cpu = time.process_time() - started
    peak = _peak_rss_bytes()
    result = {
        "rows": len(history),
        "training_rows": train.stop,
        "candidates": args.candidates,
        "features_cpu_s": round(features_cpu, 1),
        "training_cpu_s": round(training_cpu, 1),
        "kept_features": len(model.feature_names),
        "point_rounds": model.summary.point_rounds,
        "quantile_rounds": model.summary.quantile_rounds,
        "validation_mae": {len(c.feature_names): round(c.validation_mae, 4) for c in tried},
        "calibrated_coverage": round(model.calibration.calibrated_coverage, 4),
        "peak_rss_bytes": peak,
        "peak_rss_bytes_per_row": round(peak / len(history)),
        "rss_after_read_bytes": read_rss,
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
