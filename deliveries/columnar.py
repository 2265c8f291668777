"""A tenant's delivery history read as columns: COPY into Arrow, never one Python object per row.

The reader for training, backtests and backfills over whole histories (millions of rows). It selects
exactly the rows `deliveries.selectors.deliveries_frame` selects, in the same order (oldest first, by id
on ties), and returns `core.delivery.columnar.history_frame`'s compact frame (about 90 bytes a row):

    from deliveries.columnar import deliveries_columnar
    history = deliveries_columnar(tenant=tenant, ordered_before=..., id_at_most=..., plausible_at=...)

On PostgreSQL the rows leave the server through ``COPY ... TO STDOUT (FORMAT csv)`` into a temporary
file that pyarrow's multi-threaded CSV reader parses; instants travel as integer epoch microseconds, so no
text time format is parsed. Other databases (SQLite in development) read through a cursor in chunks.
"""

from __future__ import annotations

import datetime as dt
import tempfile

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.delivery.columnar import HISTORY_COLUMNS, HISTORY_SCHEMA, TIME_COLUMNS, history_frame, history_table
from deliveries.models import Delivery
from deliveries.selectors import plausible_q, snapshot_deliveries
from tenants.models import Tenant

# Rows fetched per round trip on the cursor fallback: bounded memory, few round trips.
_CURSOR_CHUNK_ROWS = 50_000


def deliveries_columnar(
    *,
    tenant: Tenant,
    ordered_before: dt.datetime | None = None,
    id_at_most: int | None = None,
    plausible_at: dt.datetime | None = None,
) -> pd.DataFrame:
    """The tenant's deliveries as a compact columnar frame, oldest first; the selection of `deliveries_frame`."""
    queryset = (
        snapshot_deliveries(tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most)
        .filter(plausible_q(now=plausible_at or timezone.now()))
        .order_by("ordered_at", "id")
    )
    return history_frame(deliveries_arrow(queryset))


def deliveries_arrow(queryset: QuerySet[Delivery]) -> pa.Table:
    """The queryset's deliveries as a `HISTORY_SCHEMA` Arrow table, in the queryset's order."""
    table = Delivery._meta.db_table
    # Instants as integer epoch microseconds: exact (EXTRACT gives numeric on PostgreSQL 14+) and parsed
    # as integers, not as text times in the session's zone.
    epoch_us = {
        name: RawSQL(f'(EXTRACT(EPOCH FROM "{table}"."{name}") * 1000000)::bigint', ()) for name in TIME_COLUMNS
    }
    selected = [f"{name}_us" if name in TIME_COLUMNS else name for name in HISTORY_COLUMNS]
    if connection.vendor != "postgresql":
        return _cursor_arrow(queryset)
    rows = queryset.annotate(**{f"{name}_us": expression for name, expression in epoch_us.items()})
    sql, params = rows.values_list(*selected).query.sql_with_params()
    return _copy_arrow(sql, params, selected)


def _copy_arrow(sql: str, params: tuple[object, ...], selected: list[str]) -> pa.Table:
    types = {name: _csv_type(name) for name in selected}
    with tempfile.TemporaryFile() as spool:
        statement = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
        with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
            for chunk in copy:
                spool.write(chunk)
        if spool.tell() == 0:  # no rows: pyarrow refuses an empty file, the schema says it all
            return history_table(HISTORY_SCHEMA.empty_table())
        spool.seek(0)
        raw = pa_csv.read_csv(
            spool,
            read_options=pa_csv.ReadOptions(column_names=selected, block_size=16 << 20),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                true_values=["t"],
                false_values=["f"],
                # PostgreSQL writes NULL as an empty unquoted field and an empty string as "".
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    return _with_times(raw)


def _csv_type(name: str) -> pa.DataType:
    if name.endswith("_us"):
        return pa.int64()
    field_type = HISTORY_SCHEMA.field(name).type
    return pa.string() if pa.types.is_dictionary(field_type) else field_type


def _cursor_arrow(queryset: QuerySet[Delivery]) -> pa.Table:
    """The fallback for databases without COPY: chunks of rows turned into Arrow batches as they arrive."""
    batches = []
    rows = queryset.values_list(*HISTORY_COLUMNS).iterator(chunk_size=_CURSOR_CHUNK_ROWS)
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CURSOR_CHUNK_ROWS:
            batches.append(_rows_table(chunk))
            chunk = []
    batches.append(_rows_table(chunk))
    return history_table(pa.concat_tables(batches))


def _rows_table(rows: list[tuple[object, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in HISTORY_COLUMNS]
    arrays = []
    for name, values in zip(HISTORY_COLUMNS, columns, strict=True):
        field_type = HISTORY_SCHEMA.field(name).type
        arrays.append(pa.array(values, type=pa.string() if pa.types.is_dictionary(field_type) else field_type))
    return pa.Table.from_arrays(arrays, names=list(HISTORY_COLUMNS))


def _with_times(raw: pa.Table) -> pa.Table:
    columns = {}
    for name in HISTORY_COLUMNS:
        if name in TIME_COLUMNS:
            columns[name] = raw.column(f"{name}_us").cast(pa.timestamp("us", tz="UTC"))
        else:
            columns[name] = raw.column(name)
    return history_table(pa.table(columns))
