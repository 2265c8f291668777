"""Actual delivery times in bulk: a tenant's nightly export of outcomes, from a file or one API call.

One service for `manage.py import_outcomes` and `POST /api/v1/deliveries/outcomes`. Each row is judged by the
single outcome's own code (`predictions.services.outcome_instants_check` for plausibility,
`outcome_delivery_build` for the stored delivery), so a bulk row and a single report of the same order store
the same thing. The rows are read
in chunks: a chunk's orders are looked up in two queries, its accepted rows are COPYed into a temporary staging
table, and at the end one set-wise statement stores the deliveries and joins them to every audited prediction of
their orders. Memory is bounded by the chunk size (and the first rejections kept for the report), not by the file.

Like the delivery importer, bad rows are reported (row number, order, field, why) and the others stored; the
whole file is one transaction, so a failure part-way stores nothing. Idempotent: an order that already has the
same outcome is counted as a repeat; a different value is a per-row conflict, never an error of the whole file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from core.delivery.columnar import HISTORY_COLUMNS
from core.delivery.schema import COURIER_AGE_RANGE
from deliveries.models import Delivery
from features.tasks import materialize_features_task
from predictions.choices import PredictionSource
from predictions.constants import OUTCOME_CHUNK_ROWS, OUTCOME_REJECTIONS_KEPT
from predictions.models import PredictionAudit, PredictionOutcome
from predictions.orders import OrderInput
from predictions.services import (
    InvalidOutcome,
    OutcomeConflict,
    UnknownOrder,
    outcome_delivery_build,
    outcome_instants_check,
    prediction_outcome_record,
)
from tenants.models import Tenant

# The columns a row may carry; `order_id` and one of `delivery_minutes` / `delivered_at` are required.
OUTCOME_COLUMNS = ("order_id", "delivery_minutes", "delivered_at", "picked_at", "driver_age")
# The stored delivery's columns, in the staging table's order (after the row number): the history's own.
DELIVERY_COLUMNS = HISTORY_COLUMNS
STAGING_TABLE = "outcome_import_staging"


@dataclass(frozen=True)
class OutcomeRejection:
    """Why one row was not stored: its 1-based row number (the line after a file's header), order and field."""

    row: int
    order_id: str
    field: str
    message: str


@dataclass
class OutcomeImport:
    """What an import did. rows == recorded + repeats + rejected; `rejections` lists the first ones."""

    rows: int = 0
    recorded: int = 0
    predictions_joined: int = 0
    repeats: int = 0
    rejected: int = 0
    rejections: list[OutcomeRejection] = field(default_factory=list)

    def reject(self, rejection: OutcomeRejection) -> None:
        self.rejected += 1
        if len(self.rejections) < OUTCOME_REJECTIONS_KEPT:
            self.rejections.append(rejection)


class OutcomeFileError(ValueError):
    """The file cannot be read as outcomes at all (no header, a missing required column): nothing was stored."""


def outcome_file_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file of outcomes (a header naming `OUTCOME_COLUMNS`; unknown columns refused)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = sorted(set(header) - set(OUTCOME_COLUMNS))
        if unknown or "order_id" not in header:
            raise OutcomeFileError(
                f"{path.name}: the header must name order_id and any of {', '.join(OUTCOME_COLUMNS[1:])}; "
                f"unknown columns {unknown}"
                if unknown
                else f"{path.name}: no order_id column"
            )
        yield from reader


def outcomes_import(
    *, tenant: Tenant, rows: Iterable[Mapping[str, object]], chunk_size: int = OUTCOME_CHUNK_ROWS
) -> OutcomeImport:
    """Store the reported outcomes of many predicted orders at once; see the module docstring for the rules.

    The feature store is refreshed for the tenant once the transaction commits (one materialisation rather
    than one update per order).
    """
    if connection.vendor != "postgresql":
        return _outcomes_record_row_by_row(tenant=tenant, rows=rows)
    result = OutcomeImport()
    now = timezone.now()
    numbered = enumerate(rows, start=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGING_TABLE} (row_number integer, external_order_id text, courier_id text, "
            "courier_age integer, courier_rating double precision, pickup_latitude double precision, "
            "pickup_longitude double precision, drop_latitude double precision, drop_longitude double precision, "
            "has_usable_coordinates boolean, ordered_at timestamptz, picked_at timestamptz, weather text, "
            "traffic text, vehicle text, area text, delivery_minutes double precision) ON COMMIT DROP"
        )
        while chunk := list(islice(numbered, chunk_size)):
            staged = _chunk_judge(tenant, chunk, result)
            with cursor.copy(f"COPY {STAGING_TABLE} FROM STDIN") as copy:
                for row in staged:
                    copy.write_row(row)
        _in_file_duplicates_settle(cursor, result)
        staged_count = _scalar(cursor, f"SELECT count(*) FROM {STAGING_TABLE}")
        inserted, joined = _store(cursor, tenant=tenant, now=now)
        if inserted != staged_count:
            # Another report of some of these orders committed while the file was read: stop rather than guess
            # which value wins; importing the file again reports those rows as repeats or conflicts.
            raise OutcomeConflict(
                f"{staged_count - inserted} order(s) of this file got an outcome from another request meanwhile; "
                "nothing was stored, import the file again"
            )
        result.recorded, result.predictions_joined = inserted, joined
        # Dropped here, not only ON COMMIT: inside an outer transaction (a request's, a test's) there is no commit
        # yet, and the next import of this connection must create it afresh.
        cursor.execute(f"DROP TABLE {STAGING_TABLE}")
        if inserted:
            transaction.on_commit(lambda: materialize_features_task.delay(tenant.pk), robust=True)
    return result


def _outcomes_record_row_by_row(*, tenant: Tenant, rows: Iterable[Mapping[str, object]]) -> OutcomeImport:
    """The quickstart's SQLite database has no COPY or ANY(array): each row goes through the single report's
    service instead, in one transaction. Slower, and an order twice in the file with different values keeps
    its first value (the second row is the conflict), where PostgreSQL refuses both rows."""
    result = OutcomeImport()
    with transaction.atomic():
        for number, row in enumerate(rows, start=1):
            result.rows += 1
            order_id = str(row.get("order_id") or "").strip()
            try:
                if not order_id:
                    raise InvalidOutcome("order_id", "required")
                recorded = prediction_outcome_record(
                    tenant=tenant,
                    order_id=order_id,
                    delivery_minutes=_number(row, "delivery_minutes"),
                    delivered_at=_instant(row, "delivered_at"),
                    picked_at=_instant(row, "picked_at"),
                    driver_age=_age(row),
                )
            except InvalidOutcome as error:
                result.reject(OutcomeRejection(number, order_id, error.field, str(error)))
            except UnknownOrder as error:
                result.reject(OutcomeRejection(number, order_id, "order_id", str(error)))
            except OutcomeConflict as error:
                result.reject(OutcomeRejection(number, order_id, "delivery_minutes", str(error)))
            else:
                result.recorded += recorded.created
                result.repeats += not recorded.created
                result.predictions_joined += len(recorded.outcomes) if recorded.created else 0
    return result


def _chunk_judge(
    tenant: Tenant, chunk: list[tuple[int, Mapping[str, object]]], result: OutcomeImport
) -> list[tuple[object, ...]]:
    """Judge each row of a chunk like a single outcome; returns the staging rows of the accepted ones."""
    result.rows += len(chunk)
    # PostgreSQL text cannot hold NUL: such an id is no order's, and must not reach the query.
    order_ids = [
        order_id
        for order_id in {str(row.get("order_id") or "").strip() for _, row in chunk} - {""}
        if "\x00" not in order_id
    ]
    # = ANY(array): one parameter, where `__in` would send and plan one placeholder per order of the chunk.
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT DISTINCT ON (order_id) order_id, "order" FROM {PredictionAudit._meta.db_table} '
            "WHERE tenant_id = %s AND order_id = ANY(%s) AND source <> %s ORDER BY order_id, created_at DESC",
            [tenant.pk, order_ids, PredictionSource.SIMULATION],
        )
        # Django reads jsonb as text (its JSONField decodes it): so does this raw query.
        latest_orders = {order_id: json.loads(order) for order_id, order in cursor.fetchall()}
        cursor.execute(
            f"SELECT external_order_id, delivery_minutes FROM {Delivery._meta.db_table} "
            "WHERE tenant_id = %s AND external_order_id = ANY(%s)",
            [tenant.pk, order_ids],
        )
        existing = dict(cursor.fetchall())
    staged = []
    for number, row in chunk:
        order_id = str(row.get("order_id") or "").strip()
        try:
            if not order_id:
                raise InvalidOutcome("order_id", "required")
            if "\x00" in order_id:
                raise InvalidOutcome("order_id", "contains a NUL character")
            if order_id not in latest_orders:
                raise InvalidOutcome("order_id", f"no prediction was served for order {order_id!r}")
            order = OrderInput.from_json(latest_orders[order_id])
            minutes, picked_at = outcome_instants_check(
                order,
                delivery_minutes=_number(row, "delivery_minutes"),
                delivered_at=_instant(row, "delivered_at"),
                picked_at=_instant(row, "picked_at"),
            )
            age = _age(row)
            age = age if age is not None else order.courier_age
            if age is None:
                raise InvalidOutcome("driver_age", "required: the prediction did not record the driver's age")
        except InvalidOutcome as error:
            result.reject(OutcomeRejection(number, order_id, error.field, str(error)))
            continue
        if order_id in existing:
            if existing[order_id] == minutes:
                result.repeats += 1
            else:
                message = f"order {order_id!r} already has an outcome of {existing[order_id]:g} minutes"
                result.reject(OutcomeRejection(number, order_id, "delivery_minutes", message))
            continue
        delivery = outcome_delivery_build(order, picked_at, minutes, int(age))
        staged.append((number, *(getattr(delivery, column) for column in DELIVERY_COLUMNS)))
    return staged


def _in_file_duplicates_settle(cursor: object, result: OutcomeImport) -> None:
    """An order twice in the file: the same value is one outcome and repeats; different values are conflicts."""
    cursor.execute(  # type: ignore[attr-defined]
        f"""
        SELECT row_number, external_order_id,
               min(delivery_minutes) OVER (PARTITION BY external_order_id)
                 <> max(delivery_minutes) OVER (PARTITION BY external_order_id) AS is_conflicting,
               min(row_number) OVER (PARTITION BY external_order_id) AS first_row
        FROM (SELECT *, count(*) OVER (PARTITION BY external_order_id) AS copies FROM {STAGING_TABLE}) AS staged
        WHERE copies > 1
        ORDER BY row_number
        """
    )
    dropped = []
    for number, order_id, is_conflicting, first_row in cursor.fetchall():  # type: ignore[attr-defined]
        if is_conflicting:
            message = f"order {order_id!r} is in the file more than once with different outcomes"
            result.reject(OutcomeRejection(number, order_id, "delivery_minutes", message))
            dropped.append(number)
        elif number != first_row:
            result.repeats += 1
            dropped.append(number)
    if dropped:
        cursor.execute(f"DELETE FROM {STAGING_TABLE} WHERE row_number = ANY(%s)", [dropped])  # type: ignore[attr-defined]


def _store(cursor: object, *, tenant: Tenant, now: dt.datetime) -> tuple[int, int]:
    """Insert the staged deliveries and one outcome per audited prediction of their orders; returns both counts."""
    deliveries = Delivery._meta.db_table
    outcomes = PredictionOutcome._meta.db_table
    audits = PredictionAudit._meta.db_table
    columns = ", ".join(DELIVERY_COLUMNS)
    cursor.execute(  # type: ignore[attr-defined]
        f"""
        WITH inserted AS (
            INSERT INTO {deliveries} (tenant_id, import_batch_id, {columns})
            SELECT %(tenant)s, NULL, {columns} FROM {STAGING_TABLE} ORDER BY row_number
            ON CONFLICT (tenant_id, external_order_id) DO NOTHING
            RETURNING id, external_order_id, delivery_minutes
        ), joined AS (
            INSERT INTO {outcomes}
                (tenant_id, audit_id, delivery_id, model_version_id, actual_minutes, error_minutes, reported_at)
            SELECT %(tenant)s, audit.id, inserted.id, audit.model_version_id, inserted.delivery_minutes,
                   audit.predicted_eta_minutes - inserted.delivery_minutes, %(now)s
            FROM inserted JOIN {audits} AS audit
              ON audit.tenant_id = %(tenant)s AND audit.order_id = inserted.external_order_id
                 AND audit.source <> %(simulation)s
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM joined)
        """,
        {"tenant": tenant.pk, "now": now, "simulation": PredictionSource.SIMULATION},
    )
    inserted, joined = cursor.fetchone()  # type: ignore[attr-defined]
    return int(inserted), int(joined)


def _scalar(cursor: object, sql: str) -> int:
    cursor.execute(sql)  # type: ignore[attr-defined]
    return int(cursor.fetchone()[0])  # type: ignore[attr-defined]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(row: Mapping[str, object], name: str) -> float | None:
    value = row.get(name)
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise InvalidOutcome(name, f"expected a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidOutcome(name, f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidOutcome(name, f"expected a finite number, got {value!r}")
    return number


def _instant(row: Mapping[str, object], name: str) -> dt.datetime | None:
    value = row.get(name)
    if _blank(value):
        return None
    try:
        instant = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidOutcome(name, f"expected an ISO 8601 date and time, got {value!r}") from None
    if instant.tzinfo is None:
        raise InvalidOutcome(name, f"{value!r} has no UTC offset")
    return instant


def _age(row: Mapping[str, object]) -> int | None:
    number = _number(row, "driver_age")
    if number is None:
        return None
    low, high = COURIER_AGE_RANGE
    if not number.is_integer() or not low <= number <= high:
        raise InvalidOutcome("driver_age", f"expected a whole number of years in {low}..{high}, got {number:g}")
    return int(number)
