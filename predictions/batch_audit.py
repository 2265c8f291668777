"""The audit rows of a scored file: one `PredictionAudit` per order, built as columns and written with COPY.

`predictions_score_file` scores a file in chunks; for each chunk `batch_audit_table` turns the orders, their
feature vectors and the model's outputs into the audit table's columns (JSON as text, in Arrow kernels: no
Python object per row), and `batch_audits_write` sends them to PostgreSQL with one ``COPY ... FROM STDIN``
into the partitioned table, which routes each row to its month and fires the row triggers as an INSERT
would. The caller holds one transaction over every chunk and the `BatchPredictionRun`: all or nothing.
SQLite (the quickstart) has no COPY: the same rows go through ``bulk_create``.

A batch row's response is the file's output row in the API's vocabulary. Without ``--explain`` its
explanation is null and ``is_explained`` false, and `prediction_replay` then recomputes without one.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from core.features import FEATURE_NAMES, Entity
from core.model import QUANTILE_NAMES, BatchPrediction, Explanation
from core.text_columns import (
    JsonColumn,
    json_booleans,
    json_numbers,
    json_objects,
    json_safe,
    json_strings,
    uuid4_texts,
)
from features.choices import FeatureSource, Freshness
from predictions.choices import PredictionSource
from predictions.models import PredictionAudit
from predictions.selectors import ServingModel
from tenants.models import Tenant

# The order fields an audit row records, as `OrderInput.as_json` names them (outcomes read them back).
_ORDER_FIELDS = (
    "order_id",
    "courier_id",
    "ordered_at",
    "picked_at",
    "pickup_latitude",
    "pickup_longitude",
    "drop_latitude",
    "drop_longitude",
    "distance_km",
    "has_usable_coordinates",
    "weather",
    "traffic",
    "vehicle",
    "area",
    "courier_age",
    "courier_rating",
)
_ORDER_COLUMNS = {"order_id": "external_order_id"}  # order field -> the clean frame's column, where they differ


@dataclass(frozen=True)
class BatchAuditRun:
    """What every audit row of one scored file shares.

    ``request_id`` ties the rows to their `BatchPredictionRun`; the request of each row is the input file
    (by its sha256) and the row's position in it, which is also its row in the output file. History
    features were computed from the database as it was at ``history_read_at``.
    """

    tenant: Tenant
    serving: ServingModel
    request_id: str
    input_sha256: str
    history_read_at: dt.datetime
    is_explained: bool


def batch_audit_table(
    *,
    run: BatchAuditRun,
    orders: pd.DataFrame,
    features: pd.DataFrame,
    scored: BatchPrediction,
    explanations: list[Explanation] | None,
    first_row: int,
    latency_ms: float,
) -> pa.Table:
    """One chunk's audit rows as the table's columns: ``orders`` row i was scored as ``scored`` row i."""
    rows = len(orders)
    predictor = run.serving.predictor
    version = run.serving.version
    audit_ids = uuid4_texts(rows)
    out_of_range_counts = predictor.out_of_range_counts(features)
    quantiles = json_objects({name: json_numbers(scored.quantile(name)) for name in QUANTILE_NAMES})
    response = json_objects(
        {
            "order_id": json_strings(orders["external_order_id"]),
            "predicted_eta_minutes": json_numbers(scored.eta_minutes),
            "quantiles": quantiles,
            "confidence_score": json_numbers(scored.confidence),
            "is_ood": json_booleans(out_of_range_counts > 0),
            "out_of_range_features": _out_of_range_json(run, features, out_of_range_counts),
            "explanation": "null" if explanations is None else _explanations_json(explanations),
            "is_explained": json.dumps(explanations is not None),
            "model_version": json.dumps(version.version),
        }
    )
    # The request is the input file (its sha256 is the row's request_sha256) and the order's row in it.
    request = json_objects({"row": json_numbers(np.arange(first_row, first_row + rows, dtype=np.float64))})
    created_at = np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None), "us")
    columns = {
        "id": audit_ids,
        "tenant_id": pa.array(np.full(rows, run.tenant.pk, dtype=np.int64)),
        "source": _repeated(PredictionSource.BATCH, rows),
        "request_id": _repeated(run.request_id, rows),
        "order_id": pa.array(orders["external_order_id"], type=pa.string(), from_pandas=True),
        "idempotency_key": pa.nulls(rows, type=pa.string()),
        "request_sha256": _repeated(run.input_sha256, rows),
        "request": request,
        "order": _orders_json(orders),
        "features": json_objects({name: _feature_json(features[name]) for name in FEATURE_NAMES}),
        "feature_freshness": _repeated(json.dumps(_freshness(run)), rows),
        "used_fallback": pa.array(np.zeros(rows, dtype=bool)),
        "model_version_id": pa.array(np.full(rows, version.pk, dtype=np.int64)),
        "artifact_sha256": _repeated(version.artifact_sha256, rows),
        "predicted_eta_minutes": pa.array(scored.eta_minutes, type=pa.float64()),
        "quantiles": quantiles,
        "confidence_score": pa.array(scored.confidence, type=pa.float64()),
        "is_ood": pa.array(out_of_range_counts > 0),
        "response": response,
        "latency_ms": pa.array(np.full(rows, latency_ms, dtype=np.float64)),
        "created_at": pa.array(np.full(rows, created_at), type=pa.timestamp("us", tz="UTC")),
    }
    return pa.table(columns)


@contextmanager
def batch_audits_writer() -> Iterator[Callable[[pa.Table], None]]:
    """A function that inserts one chunk of audit rows (from `batch_audit_table`) in the caller's transaction.

    On PostgreSQL every chunk goes into one ``COPY`` statement, sent by psycopg's worker thread while the
    next chunk is scored, so the database's work overlaps the model's (its queue is bounded, so is memory).
    The statement ends when the block does: a row the table refuses raises there, as `IntegrityError`.
    The block must not query the database meanwhile: the connection is busy with the COPY.
    """
    if connection.vendor != "postgresql":
        yield _audits_bulk_create
        return
    columns = [field.column for field in PredictionAudit._meta.concrete_fields]
    names = ", ".join(f'"{column}"' for column in columns)
    statement = f"COPY {PredictionAudit._meta.db_table} ({names}) FROM STDIN WITH (FORMAT csv)"
    # Django wraps errors of execute() only; COPY's are wrapped here (IntegrityError, not psycopg's).
    with connection.wrap_database_errors, connection.cursor() as cursor:
        # An audit row is over PostgreSQL's 2 kB TOAST threshold, so its JSON is compressed; lz4 (where the
        # server has it) costs a fraction of the default pglz. For this transaction only; reads are unchanged.
        cursor.execute(
            "SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        raw = cursor.cursor
        with raw.copy(statement, writer=QueuedLibpqWriter(raw)) as copy:

            def write(table: pa.Table) -> None:
                # Arrow writes the CSV in C: NULL as an empty unquoted field, texts quoted, instants with "Z".
                buffer = io.BytesIO()
                pa_csv.write_csv(table.select(columns), buffer, write_options=pa_csv.WriteOptions(include_header=False))
                copy.write(buffer.getbuffer())

            yield write


def _audits_bulk_create(table: pa.Table) -> None:
    """Without COPY (SQLite): the same rows as model instances, one chunk at a time."""
    json_fields = {
        field.column for field in PredictionAudit._meta.concrete_fields if field.get_internal_type() == "JSONField"
    }
    audits = [
        PredictionAudit(
            **{
                name: json.loads(value) if name in json_fields else value
                for name, value in zip(table.column_names, row, strict=True)
            }
        )
        for row in zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True)
    ]
    PredictionAudit.objects.bulk_create(audits)


def _repeated(text: str, rows: int) -> pa.Array:
    """The same text on every row, stored once (a dictionary of one), written out in full by the CSV writer."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array([text]))


def _feature_json(column: pd.Series) -> pa.Array:
    if pd.api.types.is_numeric_dtype(column):
        return json_numbers(column.to_numpy(dtype=np.float64))
    return json_strings(column)


def _orders_json(orders: pd.DataFrame) -> pa.Array:
    fields: dict[str, JsonColumn] = {}
    for name in _ORDER_FIELDS:
        column = orders.get(_ORDER_COLUMNS.get(name, name))
        if column is None:  # distance_km: the file gives coordinates, so the distance is computed from them
            fields[name] = "null"
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            utc = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            instants = pa.array(utc, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
            iso = pc.strftime(instants, format="%Y-%m-%dT%H:%M:%S+00:00")
            fields[name] = json_strings(iso)
        elif pd.api.types.is_bool_dtype(column):
            fields[name] = json_booleans(column)
        elif pd.api.types.is_numeric_dtype(column):
            fields[name] = json_numbers(column.to_numpy(dtype=np.float64))
        else:
            fields[name] = json_strings(column)
    return json_objects(fields)


def _freshness(run: BatchAuditRun) -> dict[str, object]:
    """Each entity's freshness: order features come with the file, history features from the database.

    Keyed by entity, not by feature as an API row is: every feature of an entity shares its freshness
    (`FEATURES_BY_NAME[name].entity` says which), and the per-feature form would be 2.7 kB of every row,
    which PostgreSQL parsed for ~40 us of CPU a row, more than half the model's own cost per row.
    """
    history = {
        "status": Freshness.FRESH.value,
        "source": FeatureSource.DATABASE.value,
        "computed_at": run.history_read_at.isoformat(),
    }
    from_file = {"status": Freshness.FRESH.value, "source": FeatureSource.REQUEST.value, "computed_at": None}
    return {entity.value: from_file if entity is Entity.ORDER else history for entity in Entity}


def _out_of_range_json(run: BatchAuditRun, features: pd.DataFrame, counts: np.ndarray) -> pa.Array:
    """The flagged features of each row, ``[]`` for most; the few flagged rows go through `out_of_range` itself."""
    empty = _repeated("[]", len(features)).dictionary_decode()
    flagged = counts > 0
    if not flagged.any():
        return empty
    out_of_range = run.serving.predictor.out_of_range
    texts = [
        json.dumps(json_safe([asdict(flag) for flag in out_of_range(vector)]))
        for vector in features[flagged].to_dict("records")
    ]
    return pc.replace_with_mask(empty, pa.array(flagged), pa.array(texts, type=pa.string()))


def _explanations_json(explanations: list[Explanation]) -> pa.Array:
    return pa.array([json.dumps(json_safe(asdict(explanation))) for explanation in explanations], type=pa.string())
