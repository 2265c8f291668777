"""Training past one machine: a frozen snapshot's rows, features and boosters on a Dask cluster (no Django).

The snapshot (`core.delivery.columnar`) is cut into partitions that are *closed under every history
entity*: a row's courier, restaurant and city keys all begin with the same four characters of its
courier id (a restaurant id is a prefix of the courier id at least four long, the city id is its first
four), so partitioning rows by those four characters puts every delivery an entity's history needs
into that entity's partition. Each worker then runs the same `build_training_features` on its
partition and gets, row for row, the values the whole-history computation gives: point-in-time
correctness needs no history prefix and no shuffle of features.

Each partition is read by its worker from the snapshot's Parquet row groups (one group at a time) and
pinned to a worker chosen by position, so the same snapshot, partition count and worker count put the
same rows on the same workers in the same order. `xgboost.dask` then trains the boosters with
allreduced histograms. The boosters go into the very artifact local training writes
(`core.model.artifact_predictor`). Reproducibility: byte-identical for the same snapshot, partition
count, worker count and library versions; a different partitioning or worker count gives a
statistically equivalent but not byte-equal model (tree splits sum histograms in another order).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xgboost as xgb
from dask import array as da
from distributed import Client, Future
from xgboost import dask as dxgb

from core.delivery.columnar import history_frame, history_table
from core.features import FEATURE_NAMES, FeatureKind, build_training_features
from core.model import (
    CandidateResult,
    ETAPredictor,
    TrainingConfig,
    _encode_frame,
    artifact_predictor,
    booster_params,
    feature_specs,
    ood_bounds_of_columns,
)

# The characters of a courier id that fix all its history entities (see the module docstring).
_ENTITY_PREFIX_LENGTH = 4
_FIT, _VALIDATION, _EVALUATION = 0, 1, 2


@dataclass(frozen=True)
class DistributedTraining:
    """The kept predictor, every candidate's validation MAE, and the evaluation window's rows for scoring."""

    predictor: ETAPredictor
    candidates: tuple[CandidateResult, ...]
    evaluation_rows: np.ndarray  # positions in the snapshot, ascending
    evaluation_features: pd.DataFrame


def partition_of(courier_ids: pd.Series, partitions: int) -> np.ndarray:
    """Each row's partition: a stable hash (CRC-32, not Python's salted hash) of its entity prefix."""
    codes, distinct = pd.factorize(courier_ids.astype(object), use_na_sentinel=False)
    hashes = np.array(
        [zlib.crc32(str(value)[:_ENTITY_PREFIX_LENGTH].encode()) % partitions for value in distinct], dtype=np.int64
    )
    return hashes[codes]


def _partition(
    path: str, part: int, partitions: int, *, time_zone: str, validation_start: int, evaluation_start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """One partition's encoded features (all `FEATURE_NAMES`), target, split and snapshot row numbers.

    Runs on a worker. Also returns the evaluation window's raw feature frame, small, for the caller's
    evaluation report.
    """
    parquet = pq.ParquetFile(path)
    pieces, offset = [], 0
    for group in range(parquet.num_row_groups):
        rows = history_frame(history_table(parquet.read_row_group(group)))
        keep = partition_of(rows["courier_id"], partitions) == part
        pieces.append(rows[keep].assign(snapshot_row=np.flatnonzero(keep) + offset))
        offset += len(rows)
    history = pd.concat(pieces, ignore_index=True)
    features = build_training_features(history, time_zone=ZoneInfo(time_zone))
    ordered_ns = history["ordered_at"].dt.as_unit("ns").astype("int64").to_numpy()
    split = np.where(
        ordered_ns > evaluation_start, _EVALUATION, np.where(ordered_ns > validation_start, _VALIDATION, _FIT)
    )
    x = _encode_frame(features, feature_specs(TrainingConfig()))
    target = history["delivery_minutes"].to_numpy(dtype=np.float64)
    rows = history["snapshot_row"].to_numpy(dtype=np.int64)
    return x, target, split, rows, features[split == _EVALUATION].reset_index(drop=True)


def _split_features(parts: tuple[np.ndarray, ...], split: int, columns: Sequence[int]) -> np.ndarray:
    x, _target, splits, _rows, _evaluation = parts
    return np.ascontiguousarray(x[splits == split][:, list(columns)])


def _split_target(parts: tuple[np.ndarray, ...], split: int) -> np.ndarray:
    _x, target, splits, _rows, _evaluation = parts
    return target[splits == split]


def _evaluation_of(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    _x, _target, splits, rows, evaluation = parts
    return rows[splits == _EVALUATION], evaluation


def _column(x: np.ndarray, index: int) -> np.ndarray:
    return x[:, index]


def train_distributed(
    *,
    client: Client,
    snapshot: Path,
    time_zone: ZoneInfo,
    evaluation_start: pd.Timestamp,
    candidates: Sequence[TrainingConfig],
    partitions: int,
) -> DistributedTraining:
    """Train the candidates on the snapshot's rows ordered up to ``evaluation_start`` on ``client``'s cluster.

    Candidates are ranked by their point booster's validation MAE, as local training ranks them, and only
    the best is finished with its quantile booster.
    """
    if not candidates:
        raise ValueError("need at least one candidate configuration")
    if any(config.quantile_fit_rows is not None for config in candidates):
        # A sample is drawn from the rows' global order, which partitions do not share.
        raise ValueError("the Dask engine fits the quantile booster on every fit row: quantile_fit_rows must be None")
    ordered_at = pq.read_table(snapshot, columns=["ordered_at"]).column(0).to_pandas()
    # As local training: the validation window is the last days of the rows before the evaluation window.
    validation_days = candidates[0].validation_days
    if any(config.validation_days != validation_days for config in candidates):
        raise ValueError("candidates must share validation_days")
    validation_start = ordered_at[ordered_at <= evaluation_start].max() - pd.Timedelta(days=validation_days)
    del ordered_at
    workers = sorted(client.scheduler_info()["workers"], key=str)

    def on_worker(index: int) -> list[str]:
        return [workers[index % len(workers)]]

    parts = [
        client.submit(
            _partition,
            str(snapshot),
            part,
            partitions,
            time_zone=str(time_zone),
            validation_start=validation_start.as_unit("ns").value,
            evaluation_start=evaluation_start.as_unit("ns").value,
            workers=on_worker(part),
            allow_other_workers=False,
        )
        for part in range(partitions)
    ]
    all_names = list(FEATURE_NAMES)

    def split_matrix(
        config: TrainingConfig, split: int
    ) -> tuple[dxgb.DaskDMatrix, list[Future[np.ndarray]], list[Future[np.ndarray]]]:
        """One split of every partition as a DaskDMatrix whose chunks stay on their partition's worker."""
        columns = [all_names.index(name) for name in config.feature_names]
        xs = [
            client.submit(_split_features, part, split, columns, workers=on_worker(i), allow_other_workers=False)
            for i, part in enumerate(parts)
        ]
        ys = [
            client.submit(_split_target, part, split, workers=on_worker(i), allow_other_workers=False)
            for i, part in enumerate(parts)
        ]
        lengths = client.gather([client.submit(len, y, workers=on_worker(i)) for i, y in enumerate(ys)])
        present = [i for i, length in enumerate(lengths) if length]
        x = da.concatenate(
            [da.from_delayed(xs[i], shape=(lengths[i], len(columns)), dtype=np.float32) for i in present]
        )
        y = da.concatenate([da.from_delayed(ys[i], shape=(lengths[i],), dtype=np.float64) for i in present])
        types = ["c" if spec.kind is FeatureKind.CATEGORICAL else "q" for spec in feature_specs(config)]
        matrix = dxgb.DaskDMatrix(
            client, x, y, feature_names=list(config.feature_names), feature_types=types, enable_categorical=True
        )
        return matrix, [xs[i] for i in present], [ys[i] for i in present]

    def boost(
        params: dict[str, object], fit: dxgb.DaskDMatrix, validation: dxgb.DaskDMatrix, config: TrainingConfig
    ) -> xgb.Booster:
        output = dxgb.train(
            client,
            params,
            fit,
            num_boost_round=config.max_rounds,
            evals=[(validation, "validation")],
            early_stopping_rounds=config.early_stopping_rounds,
            verbose_eval=False,
        )
        booster: xgb.Booster = output["booster"]
        # Keep only the rounds up to the best one, as local training does.
        return booster[: booster.best_iteration + 1]

    ranked = []
    for config in candidates:
        _common, point_params, _quantile = booster_params(config)
        fit, fit_xs, _fit_ys = split_matrix(config, _FIT)
        validation, val_xs, val_ys = split_matrix(config, _VALIDATION)
        point = boost(point_params, fit, validation, config)
        val = (np.concatenate(client.gather(val_xs)), np.concatenate(client.gather(val_ys)))
        mae = float(np.mean(np.abs(point.inplace_predict(val[0]) - val[1])))
        ranked.append((mae, config, point, fit, validation, fit_xs, val))
    # Strictly lower wins, so on a tie the earlier candidate stays, as in local training.
    best_index = min(range(len(ranked)), key=lambda index: (ranked[index][0], index))
    _mae, config, point, fit, validation, fit_xs, val = ranked[best_index]
    _common, point_params, quantile_params = booster_params(config)
    quantile = boost(quantile_params, fit, validation, config)

    def column_of(index: int) -> np.ndarray:
        return np.concatenate(client.gather([client.submit(_column, x, index) for x in fit_xs]))

    fit_rows = sum(client.gather([client.submit(len, x) for x in fit_xs]))
    predictor = artifact_predictor(
        config=config,
        point=point,
        quantile=quantile,
        booster_params={"point": point_params, "quantile": quantile_params},
        validation=val,
        validation_start=validation_start,
        fit_rows=fit_rows,
        ood=ood_bounds_of_columns(column_of, feature_specs(config), config),
    )
    results = tuple(
        CandidateResult(c.feature_names, mae, predictor.sha256 if index == best_index else None)
        for index, (mae, c, *_rest) in enumerate(ranked)
    )
    evaluation = client.gather([client.submit(_evaluation_of, part) for part in parts])
    rows = np.concatenate([r for r, _ in evaluation])
    frame = pd.concat([f for _, f in evaluation], ignore_index=True)
    order = np.argsort(rows, kind="stable")
    return DistributedTraining(predictor, results, rows[order], frame.iloc[order].reset_index(drop=True))
