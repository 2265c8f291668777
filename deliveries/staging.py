"""Staging tables for a streaming import: chunks go in, set-wise checks and one INSERT ... SELECT come out.

`deliveries.services.deliveries_import` normalises a file chunk by chunk and loads each chunk here, so
the process never holds more than one chunk; de-duplication, the quality report's order statistics and
the final insert then run in the database over the whole file. The tables are temporary (this
connection's, gone with it) and created inside the import's transaction, so a failed import leaves
nothing behind. On PostgreSQL a chunk goes in with COPY; other databases (SQLite for the quickstart) take
the same rows through executemany. Everything after loading is the same SQL on both.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db.backends.base.base import BaseDatabaseWrapper

from core.delivery.chunks import DELIVERY_COLUMNS, FIX_COLUMNS, FIX_KINDS, NormalizedChunk
from core.delivery.quality import NUMERIC_COLUMNS, OutlierSummary, derived_numeric_frame, robust_outliers
from core.delivery.schema import RowResult
from deliveries.models import Delivery, RejectedRow

ROWS_TABLE = "import_staging_rows"
REJECTIONS_TABLE = "import_staging_rejections"
REPEATS_TABLE = "import_staging_repeats"
STORED_TABLE = "import_staging_stored"

# Column kinds of the staging tables, and their type on each database.
_TYPES = {
    "postgresql": {"text": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
                   "time": "timestamp with time zone", "json": "jsonb"},
    "other": {"text": "text", "int": "integer", "float": "real", "bool": "bool", "time": "datetime", "json": "text"},
}  # fmt: skip
_DELIVERY_KINDS = {
    "external_order_id": "text",
    "courier_id": "text",
    "courier_age": "int",
    "courier_rating": "float",
    "pickup_latitude": "float",
    "pickup_longitude": "float",
    "drop_latitude": "float",
    "drop_longitude": "float",
    "has_usable_coordinates": "bool",
    "ordered_at": "time",
    "picked_at": "time",
    "weather": "text",
    "traffic": "text",
    "vehicle": "text",
    "area": "text",
    "delivery_minutes": "float",
}
# The quality checks' two derived columns are computed per chunk by the same function as in memory, so
# their values (and the outliers found among them) do not depend on how the database does arithmetic.
_DERIVED_COLUMNS = ("pickup_wait_minutes", "offset_degrees")
ROW_COLUMNS: dict[str, str] = {
    "line_number": "int",
    # The row's position among the file's accepted rows: what the quality report's sample is drawn by.
    "accepted_index": "int",
    **_DELIVERY_KINDS,
    **dict.fromkeys(FIX_COLUMNS, "bool"),
    **dict.fromkeys(_DERIVED_COLUMNS, "float"),
}
REJECTION_COLUMNS = {"line_number": "int", "errors": "json", "raw": "json"}
# Where each quality check's numeric column lives in the staging rows.
_NUMERIC_SOURCES = {"courier_age": "courier_age", "courier_rating": "courier_rating",
                    "delivery_minutes": "delivery_minutes", **{name: name for name in _DERIVED_COLUMNS}}  # fmt: skip
# Columns the quality report's distribution-shift check reads from the sample.
_SAMPLE_COLUMNS = (
    "courier_age", "courier_rating", "delivery_minutes", "ordered_at", "picked_at", "pickup_latitude",
    "drop_latitude", "weather", "traffic", "vehicle", "area",
)  # fmt: skip
assert set(_DELIVERY_KINDS) == set(DELIVERY_COLUMNS)
assert set(_NUMERIC_SOURCES) == set(NUMERIC_COLUMNS)


@dataclass(frozen=True)
class StagedCounts:
    """How the staged rows divide: new ones, repeats of an earlier line, ones the tenant already has."""

    accepted: int
    duplicates_in_file: int
    new: int
    fixes: dict[str, int]

    @property
    def duplicates(self) -> int:
        return self.accepted - self.new


class ImportStaging:
    """The staging tables of one import on one connection; use inside the import's transaction."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.is_postgresql = connection.vendor == "postgresql"
        self.accepted = 0
        types = _TYPES["postgresql" if self.is_postgresql else "other"]
        with connection.cursor() as cursor:
            for table, columns in ((ROWS_TABLE, ROW_COLUMNS), (REJECTIONS_TABLE, REJECTION_COLUMNS)):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
                definition = ", ".join(f"{name} {types[kind]}" for name, kind in columns.items())
                cursor.execute(f"CREATE TEMPORARY TABLE {table} ({definition})")

    def add(self, chunk: NormalizedChunk) -> None:
        """Stage one normalised chunk: its accepted rows and its rejections."""
        rows = chunk.accepted.copy()
        rows.insert(1, "accepted_index", np.arange(self.accepted, self.accepted + len(rows), dtype=np.int64))
        derived = derived_numeric_frame(rows) if len(rows) else pd.DataFrame(columns=list(_DERIVED_COLUMNS))
        for name in _DERIVED_COLUMNS:
            rows[name] = derived[name].to_numpy(dtype=np.float64)
        self.accepted += len(rows)
        if len(rows):
            self._load_rows(rows[list(ROW_COLUMNS)])
        if chunk.rejected:
            self._load_rejections(chunk.rejected)

    def _load_rows(self, rows: pd.DataFrame) -> None:
        columns = ", ".join(ROW_COLUMNS)
        with self.connection.cursor() as cursor:
            if self.is_postgresql:
                # Arrow writes the chunk as CSV in C: NaN and None become empty fields (NULL), times carry "Z".
                buffer = io.BytesIO()
                table = pa.table({name: _arrow_column(rows[name]) for name in rows.columns})
                pa_csv.write_csv(table, buffer, write_options=pa_csv.WriteOptions(include_header=False))
                with cursor.copy(f"COPY {ROWS_TABLE} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getbuffer())
                return
            placeholders = ", ".join(["%s"] * len(ROW_COLUMNS))
            cursor.executemany(
                f"INSERT INTO {ROWS_TABLE} ({columns}) VALUES ({placeholders})", list(self._python_rows(rows))
            )

    def _python_rows(self, rows: pd.DataFrame) -> Iterator[tuple[object, ...]]:
        """Rows as the database driver takes them, times in the form Django stores them."""
        adapt = self.connection.ops.adapt_datetimefield_value
        kinds = list(ROW_COLUMNS.values())
        for values in rows.itertuples(index=False, name=None):
            yield tuple(_python_value(value, kind, adapt) for value, kind in zip(values, kinds, strict=True))

    def _load_rejections(self, rejected: Sequence[RowResult]) -> None:
        rows = [
            (
                result.line_number,
                json.dumps([{"column": e.column, "reason": e.reason} for e in result.errors]),
                json.dumps(_storable(result.raw)),
            )
            for result in rejected
        ]
        columns = ", ".join(REJECTION_COLUMNS)
        with self.connection.cursor() as cursor:
            if self.is_postgresql:
                with cursor.copy(f"COPY {REJECTIONS_TABLE} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            cursor.executemany(f"INSERT INTO {REJECTIONS_TABLE} ({columns}) VALUES (%s, %s, %s)", rows)

    def count(self, *, tenant_id: int) -> StagedCounts:
        """Set apart repeats of an earlier line of the file and rows the tenant already has; count the rest.

        A row is a duplicate when an earlier accepted line of the file has its order id, or the tenant
        already stores it: the first accepted line of an order id is the one that may go in.
        """
        with self.connection.cursor() as cursor:
            if self.is_postgresql:
                # Temporary tables are never analysed automatically; the joins below need their size.
                cursor.execute(f"ANALYZE {ROWS_TABLE}")
            for table in (REPEATS_TABLE, STORED_TABLE):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {REPEATS_TABLE} AS SELECT line_number FROM ("
                f" SELECT line_number, row_number() OVER (PARTITION BY external_order_id ORDER BY line_number)"
                f" AS occurrence FROM {ROWS_TABLE}) AS ranked WHERE occurrence > 1"
            )
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STORED_TABLE} AS SELECT staged.line_number FROM {ROWS_TABLE} AS staged"
                f" JOIN {Delivery._meta.db_table} AS stored ON stored.tenant_id = %s"
                " AND stored.external_order_id = staged.external_order_id",
                [tenant_id],
            )
            if self.is_postgresql:
                cursor.execute(f"ANALYZE {REPEATS_TABLE}")
                cursor.execute(f"ANALYZE {STORED_TABLE}")
            cursor.execute(f"SELECT count(*) FROM {REPEATS_TABLE}")
            (repeats,) = cursor.fetchone()
            fix_sums = ", ".join(f"COALESCE(SUM(CASE WHEN {column} THEN 1 ELSE 0 END), 0)" for column in FIX_COLUMNS)
            cursor.execute(f"SELECT count(*), {fix_sums} FROM {ROWS_TABLE} AS staged WHERE {_NEW_ROW}")
            new, *fixes = cursor.fetchone()
        return StagedCounts(
            accepted=self.accepted,
            duplicates_in_file=int(repeats),
            new=int(new),
            fixes={kind: int(total) for kind, total in zip(FIX_KINDS, fixes, strict=True) if total},
        )

    def outliers(self) -> dict[str, OutlierSummary]:
        """`quality.robust_outliers` of every numeric check over the staged rows, computed in the database.

        Median and median absolute deviation are the middle values of a sorted column, fetched as
        values, so they equal numpy's; the count compares with the same arithmetic as numpy does. Only
        when over half the values are equal does the database's mean (in its own summation order) stand
        in for numpy's, as the in-memory check does.
        """
        return {name: self._column_outliers(_NUMERIC_SOURCES[name]) for name in NUMERIC_COLUMNS}

    def _column_outliers(self, column: str) -> OutlierSummary:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT count({column}) FROM {ROWS_TABLE}")
            (checked,) = cursor.fetchone()
            if checked == 0:
                return robust_outliers(pd.Series([], dtype=np.float64))
            middle_offset, middle_count = (checked - 1) // 2, 2 - checked % 2
            cursor.execute(
                f"SELECT {column} FROM {ROWS_TABLE} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT %s OFFSET %s",
                [middle_count, middle_offset],
            )
            median = float(np.median([row[0] for row in cursor.fetchall()]))
            deviation = f"abs({column} - %s)"
            cursor.execute(
                f"SELECT {deviation} AS deviation FROM {ROWS_TABLE} WHERE {column} IS NOT NULL"
                " ORDER BY deviation LIMIT %s OFFSET %s",
                [median, middle_count, middle_offset],
            )
            mad = float(np.median([row[0] for row in cursor.fetchall()]))
            if mad == 0:
                cursor.execute(f"SELECT avg({deviation}) FROM {ROWS_TABLE} WHERE {column} IS NOT NULL", [median])
                mad = float(cursor.fetchone()[0] or 0.0)
            if mad == 0:
                return OutlierSummary(0, int(checked), 0.0, median, 0.0)
            # Evaluated as numpy does: (0.6745 * (x - median)) / mad, in doubles.
            cursor.execute(
                f"SELECT count(*) FROM {ROWS_TABLE} WHERE {column} IS NOT NULL AND abs(%s * ({column} - %s) / %s) > %s",
                [0.6745, median, mad, 3.5],
            )
            (count,) = cursor.fetchone()
        return OutlierSummary(int(count), int(checked), count / checked, median, mad)

    def sample(self, *, size: int) -> pd.DataFrame:
        """Every k-th accepted row (all of them for a file of at most ``size``): the distribution-shift sample."""
        step = max(1, math.ceil(self.accepted / size))
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM {ROWS_TABLE} WHERE accepted_index %% %s = 0"
                " ORDER BY accepted_index",
                [step],
            )
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=list(_SAMPLE_COLUMNS))
        for column in ("ordered_at", "picked_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def insert(self, *, tenant_id: int, batch_id: int) -> int:
        """Insert the new rows (file order) as the batch's deliveries and the rejections as its rejected rows."""
        delivery_columns = ", ".join(DELIVERY_COLUMNS)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Delivery._meta.db_table} (tenant_id, import_batch_id, {delivery_columns})"
                f" SELECT %s, %s, {delivery_columns} FROM {ROWS_TABLE} AS staged WHERE {_NEW_ROW}"
                " ORDER BY line_number",
                [tenant_id, batch_id],
            )
            inserted = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {RejectedRow._meta.db_table} (batch_id, line_number, errors, raw)"
                f" SELECT %s, line_number, errors, raw FROM {REJECTIONS_TABLE} ORDER BY line_number",
                [batch_id],
            )
        return inserted

    def drop(self) -> None:
        with self.connection.cursor() as cursor:
            for table in (ROWS_TABLE, REJECTIONS_TABLE, REPEATS_TABLE, STORED_TABLE):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")


_NEW_ROW = (
    f"NOT EXISTS (SELECT 1 FROM {REPEATS_TABLE} AS repeat WHERE repeat.line_number = staged.line_number)"
    f" AND NOT EXISTS (SELECT 1 FROM {STORED_TABLE} AS stored WHERE stored.line_number = staged.line_number)"
)


def _arrow_column(column: pd.Series) -> pa.Array:
    """One staged column for Arrow's CSV writer; NaN, NaT and None become nulls."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        naive_utc = pa.array(column.dt.tz_convert(None).to_numpy(), from_pandas=True)
        return naive_utc.cast(pa.timestamp(naive_utc.type.unit, "UTC"))
    return pa.array(column.to_numpy(), from_pandas=True)


def _python_value(value: object, kind: str, adapt: object) -> object:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "time":
        return adapt(value.to_pydatetime())  # type: ignore[attr-defined, operator]
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)  # type: ignore[call-overload]
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    return value


def _storable(raw: dict[str, str]) -> dict[str, str]:
    """A rejected row as the report can keep it: PostgreSQL's JSON cannot hold NUL, so it is shown as U+FFFD."""
    return {_without_nul(key): _without_nul(value) for key, value in raw.items()}


def _without_nul(value: str) -> str:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value
