"""Backfill: score stored deliveries with model versions, so a challenger collects A/B evidence from history.

`predictions_backfill` replays the chosen days once (`registry.backtest.history_replay`: point-in-time
features, columnar, nothing later than the range read) and scores that one feature frame with every
version, so the champion and the challenger are compared on identical inputs. The scores land in
`BackfilledPrediction`, apart from the live `ShadowPrediction` rows; `predictions.shadow.shadow_evaluation_look`
with the backfilled source turns them into their own sequential test.

Writing is set-based: the scores go into a temporary table (on PostgreSQL through COPY, in chunks of
`BACKFILL_COPY_ROWS`, no Python object per delivery) and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
joins them to the deliveries, so a rerun over the same days adds nothing. The quickstart's SQLite, which
has no COPY, loads the temporary table with ``executemany``: its demo history is thousands of rows.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from deliveries.models import Delivery
from predictions.constants import BACKFILL_COPY_ROWS
from predictions.models import BackfilledPrediction
from registry.backtest import versions_replay
from registry.models import ModelVersion

_STAGE_TABLE = "predictions_backfill_stage"


@dataclass(frozen=True)
class BackfillResult:
    """What one version's backfill did: deliveries scored in the range and rows newly stored (0 on a rerun)."""

    version: ModelVersion
    scored: int
    added: int


def predictions_backfill(*, versions: Sequence[ModelVersion], start: dt.date, end: dt.date) -> list[BackfillResult]:
    """Score the deliveries ordered on local days ``start``..``end`` with each version (one tenant's).

    Raises `registry.backtest.ReplayRangeError` for a bad range or a version with no trained artifact, and
    `registry.artifacts.ArtifactError` when an artifact does not verify; then nothing is stored. All
    versions' rows are written in one transaction.
    """
    predictors, replay = versions_replay(versions=versions, start=start, end=end)
    results = []
    with transaction.atomic():
        for version, predictor in zip(versions, predictors, strict=True):
            batch = predictor.predict_frame(replay.features)
            scores = pd.DataFrame(
                {
                    "external_order_id": replay.deliveries["external_order_id"].to_numpy(dtype=object),
                    "predicted": batch.eta_minutes,
                    "p05": _finite(batch.quantile("p05")),
                    "p95": _finite(batch.quantile("p95")),
                }
            )
            added = _scores_store(version, scores)
            results.append(BackfillResult(version=version, scored=len(scores), added=added))
    return results


def _finite(values: np.ndarray) -> np.ndarray:
    # A non-finite quantile is stored as NULL (no interval), never as a number no one can compare.
    return np.where(np.isfinite(values), values, np.nan)


def _scores_store(version: ModelVersion, scores: pd.DataFrame) -> int:
    table = BackfilledPrediction._meta.db_table
    deliveries = Delivery._meta.db_table
    with connection.cursor() as cursor:
        # Dropped below within the same transaction, and a rollback undoes its creation on both databases.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_STAGE_TABLE} "
            "(external_order_id text, predicted double precision, p05 double precision, p95 double precision)"
        )
        _stage_load(cursor, scores)
        # "WHERE true": SQLite needs it to read ON CONFLICT as the upsert clause rather than the join's.
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, delivery_id, model_version_id, artifact_sha256, ordered_at, "
            "predicted_eta_minutes, p05_minutes, p95_minutes, actual_minutes, created_at) "
            "SELECT d.tenant_id, d.id, %s, %s, d.ordered_at, s.predicted, s.p05, s.p95, d.delivery_minutes, %s "
            f"FROM {_STAGE_TABLE} s JOIN {deliveries} d "
            "ON d.tenant_id = %s AND d.external_order_id = s.external_order_id WHERE true "
            "ON CONFLICT (delivery_id, model_version_id) DO NOTHING",
            [version.pk, version.artifact_sha256, timezone.now(), version.tenant_id],
        )
        added = cursor.rowcount
        # Dropped now, not only at commit: the next version's scores use the same name in this transaction.
        cursor.execute(f"DROP TABLE {_STAGE_TABLE}")
    return added


def _stage_load(cursor: CursorWrapper, scores: pd.DataFrame) -> None:
    if connection.vendor == "postgresql":
        for first in range(0, len(scores), BACKFILL_COPY_ROWS):
            buffer = io.StringIO()
            scores.iloc[first : first + BACKFILL_COPY_ROWS].to_csv(buffer, index=False, header=False)
            with cursor.cursor.copy(f"COPY {_STAGE_TABLE} FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
        return
    rows = scores.astype(object).where(scores.notna(), None).itertuples(index=False, name=None)
    cursor.executemany(f"INSERT INTO {_STAGE_TABLE} VALUES (%s, %s, %s, %s)", list(rows))
