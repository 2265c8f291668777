"""CPU seconds of each booster training does, per 100 rounds, on rows of a training snapshot.

Measures with `time.process_time`, so a loaded host does not inflate the figures. Usage:

    .venv/bin/python bench/boosting_cost.py ARTIFACT_ROOT/<tenant>/eta/v<N>/training-rows-<sha256>.parquet \
        --rows 100000 --output var/bench/boosting_cost.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.delivery.columnar import history_frame, history_table
from core.features import FeatureKind, build_training_features
from core.model import _encode_frame, booster_params, default_candidates, feature_specs

ROUNDS = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--output", type=Path, default=Path("var/bench/boosting_cost.json"))
    args = parser.parse_args()
    history = history_frame(history_table(pq.read_table(args.snapshot).slice(0, args.rows)))
    started = time.process_time()
    features = build_training_features(history, time_zone=ZoneInfo(args.time_zone))
    result: dict[str, float] = {"features_cpu_s": time.process_time() - started}
    print(f"features for {len(history)} rows: {result['features_cpu_s']:.1f} CPU s")
    target = history["delivery_minutes"].to_numpy()
    for config in default_candidates():
        specs = feature_specs(config)
        matrix = xgb.DMatrix(
            _encode_frame(features, specs),
            label=target,
            feature_names=list(config.feature_names),
            feature_types=["c" if spec.kind is FeatureKind.CATEGORICAL else "q" for spec in specs],
            enable_categorical=True,
            nthread=config.nthread,
        )
        _common, point, quantile = booster_params(config)
        for name, params in (("point", point), ("quantile", quantile)):
            started = time.process_time()
            xgb.train(params, matrix, ROUNDS)
            key = f"{len(specs)}_features_{name}_cpu_s_per_{ROUNDS}_rounds"
            result[key] = time.process_time() - started
            print(f"{len(specs)} features, {name} booster: {result[key]:.1f} CPU s per {ROUNDS} rounds")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rows": len(history), **result}, indent=2))


if __name__ == "__main__":
    main()
