"""Delivery history as columns: one Arrow schema, compact pandas frames, Parquet snapshots (no Django).

A tenant's history can be tens of millions of rows, so it travels as columns end to end: the database
reader (`deliveries.columnar`) streams COPY output into Arrow, `history_frame` turns the Arrow table into
a pandas frame without per-row Python objects, and `snapshot_write` freezes the exact training rows as
one Parquet file whose sha256 the lineage records.

The frame has the `schema.CleanDelivery` columns with compact dtypes, about 90 bytes a row:
dictionary-encoded (pandas categorical) courier ids and categorical values, int16 ages, and float64
for every measured number (features compute in float64 before the model casts to float32), so every
feature value is bit-identical to the one computed from the object-typed frame that
`deliveries.selectors.delivery_rows_frame` returns.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HISTORY_COLUMNS: tuple[str, ...] = (
    "external_order_id",
    "courier_id",
    "courier_age",
    "courier_rating",
    "pickup_latitude",
    "pickup_longitude",
    "drop_latitude",
    "drop_longitude",
    "has_usable_coordinates",
    "ordered_at",
    "picked_at",
    "weather",
    "traffic",
    "vehicle",
    "area",
    "delivery_minutes",
)
CATEGORICAL_COLUMNS: tuple[str, ...] = ("courier_id", "weather", "traffic", "vehicle", "area")
TIME_COLUMNS: tuple[str, ...] = ("ordered_at", "picked_at")

_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
HISTORY_SCHEMA = pa.schema(
    [
        ("external_order_id", pa.string()),
        ("courier_id", _DICTIONARY),
        ("courier_age", pa.int16()),
        ("courier_rating", pa.float64()),
        ("pickup_latitude", pa.float64()),
        ("pickup_longitude", pa.float64()),
        ("drop_latitude", pa.float64()),
        ("drop_longitude", pa.float64()),
        ("has_usable_coordinates", pa.bool_()),
        ("ordered_at", pa.timestamp("us", tz="UTC")),
        ("picked_at", pa.timestamp("us", tz="UTC")),
        ("weather", _DICTIONARY),
        ("traffic", _DICTIONARY),
        ("vehicle", _DICTIONARY),
        ("area", _DICTIONARY),
        ("delivery_minutes", pa.float64()),
    ]
)
# Row groups of this many rows: the unit a distributed reader takes one partition from.
SNAPSHOT_ROW_GROUP_ROWS = 262_144
_HASH_CHUNK_BYTES = 1 << 20


def history_table(table: pa.Table) -> pa.Table:
    """``table`` cast to `HISTORY_SCHEMA` (strings dictionary-encoded, numbers narrowed), columns in order."""
    columns = []
    for field in HISTORY_SCHEMA:
        column = table.column(field.name)
        if pa.types.is_dictionary(field.type) and not pa.types.is_dictionary(column.type):
            column = column.cast(pa.string()).dictionary_encode()
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=HISTORY_SCHEMA)


def history_frame(table: pa.Table) -> pd.DataFrame:
    """A `HISTORY_SCHEMA` table as a compact pandas frame with a fresh RangeIndex.

    Dictionary columns become pandas categoricals, times datetime64[us, UTC], the order id an Arrow
    string column; numbers stay numpy (zero-copy where there are no nulls). Categories are sorted, so a
    frame's codes do not depend on which row a value first appeared in.
    """
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get,
        split_blocks=True,
        self_destruct=False,
    )
    for name in CATEGORICAL_COLUMNS:
        frame[name] = frame[name].cat.reorder_categories(sorted(frame[name].cat.categories))
    for name in TIME_COLUMNS:
        frame[name] = frame[name].astype("datetime64[us, UTC]")
    return frame


def history_frame_from_records(frame: pd.DataFrame) -> pd.DataFrame:
    """An object-typed history frame (clean rows, `delivery_rows_frame`) in the compact dtypes of `history_frame`."""
    table = pa.Table.from_pandas(frame[list(HISTORY_COLUMNS)], preserve_index=False)
    return history_frame(history_table(table))


def frame_nbytes(frame: pd.DataFrame) -> int:
    """The memory a frame holds, values and categories included (what "bytes per row" is measured on)."""
    return int(frame.memory_usage(index=True, deep=True).sum())


def snapshot_write(frame: pd.DataFrame, path: Path) -> str:
    """Write the rows of ``frame`` once as Parquet at ``path`` and return the file's sha256.

    The file is written once and then only read: its hash, checked on every read, proves the rows are
    the ones trained on (a later pyarrow may encode equal rows into other bytes, so it is never recomputed
    from rows). Row groups of `SNAPSHOT_ROW_GROUP_ROWS`
    let a distributed reader take one partition per group.
    """
    table = history_table(pa.Table.from_pandas(frame[list(HISTORY_COLUMNS)], preserve_index=False))
    table = table.replace_schema_metadata(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        row_group_size=SNAPSHOT_ROW_GROUP_ROWS,
        compression="zstd",
        store_schema=False,
    )
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_read(path: Path, *, row_groups: list[int] | None = None) -> pd.DataFrame:
    """A snapshot's rows (or only the given row groups) as a `history_frame`."""
    parquet = pq.ParquetFile(path)
    table = parquet.read_row_groups(row_groups) if row_groups is not None else parquet.read()
    return history_frame(history_table(table))


def snapshot_row_groups(path: Path) -> int:
    return pq.ParquetFile(path).num_row_groups
