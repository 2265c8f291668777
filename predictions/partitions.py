"""The prediction audit as monthly range partitions on PostgreSQL: the DDL, on a raw cursor.

A year of one mid-sized tenant's traffic is about 11 million audit rows. In one heap every insert updates
indexes as large as the whole history (a random UUID primary key touches a random leaf of a tree that no
longer fits in memory), and removing old months means deleting rows from an append-only table. Partitioned
by month on ``created_at`` (UTC), an insert only touches the current month's indexes, queries over a time
window read the months they cover, and a closed month leaves the table whole, as a partition detached after
its export to Parquet (`predictions.retention`), never row by row.

What PostgreSQL requires and how the audit keeps its promises:

- The primary key must contain the partition key, so the database key is ``(id, created_at)``. Django still
  sees ``id`` as the primary key: the UUID v4 that clients get as ``audit_id`` (122 random bits) is unique
  by construction, the database enforces the pair.
- No foreign key can reference ``id`` alone, so outcomes and shadow predictions keep their ``audit`` relation
  without a database constraint (an audit row is never deleted, and one archived is still found by id).
- No unique constraint can span partitions without the partition key, so an idempotency key's uniqueness per
  tenant lives in a small side table filled by a trigger in the same INSERT statement: a second row with a
  live key fails with a unique violation, as the former unique constraint did, across month boundaries too.
  A key is live for `IDEMPOTENCY_WINDOW_DAYS`; after that it may be used again (`audit_keys_purge` forgets it).
- A default partition catches a row whose month has no partition yet (beat was down, a back-dated row), so no
  insert ever fails for want of a partition; `partitions_ensure` moves such rows into their month.

SQLite (the quickstart) keeps one plain table; nothing here runs there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper

from intellilog.append_only import create_trigger_sql
from predictions.constants import IDEMPOTENCY_WINDOW_DAYS

TABLE = "predictions_predictionaudit"
DEFAULT_PARTITION = f"{TABLE}_default"
KEYS_TABLE = f"{TABLE}_idempotency"
KEYS_TRIGGER = f"{TABLE}_idempotency_key"
KEYS_FUNCTION = "intellilog_audit_idempotency_key"
# The former unique constraint's name: a duplicate key still reports it.
KEYS_CONSTRAINT = "prediction_audit_unique_idempotency_key"
_MONTH_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")

_KEYS_DDL = f"""
CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (
    tenant_id bigint NOT NULL,
    idempotency_key varchar(255) NOT NULL,
    audit_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT {KEYS_CONSTRAINT} PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS {KEYS_TABLE}_created_idx ON {KEYS_TABLE} (created_at);
CREATE OR REPLACE FUNCTION {KEYS_FUNCTION}() RETURNS trigger AS $$
BEGIN
    -- The same row inserted again (moved out of the default partition) keeps its key; an expired key is
    -- taken over; a live key of another row is a duplicate.
    INSERT INTO {KEYS_TABLE} AS kept (tenant_id, idempotency_key, audit_id, created_at)
    VALUES (NEW.tenant_id, NEW.idempotency_key, NEW.id, NEW.created_at)
    ON CONFLICT (tenant_id, idempotency_key) DO UPDATE
        SET audit_id = EXCLUDED.audit_id, created_at = EXCLUDED.created_at
        WHERE kept.audit_id = EXCLUDED.audit_id
           OR kept.created_at < EXCLUDED.created_at - interval '{IDEMPOTENCY_WINDOW_DAYS} days';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "{KEYS_CONSTRAINT}"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = '{KEYS_CONSTRAINT}',
                  DETAIL = format('Key (tenant_id, idempotency_key)=(%s, %s) already exists.',
                                  NEW.tenant_id, NEW.idempotency_key);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


@dataclass(frozen=True)
class AuditPartition:
    """One partition of the audit table: a month (its first day, UTC) or the default partition (``month`` None)."""

    name: str
    month: dt.date | None


def month_of(instant: dt.datetime | dt.date) -> dt.date:
    """The first day of ``instant``'s month; a datetime is taken in UTC, as the partition bounds are."""
    if isinstance(instant, dt.datetime):
        instant = instant.astimezone(dt.UTC)
    return dt.date(instant.year, instant.month, 1)


def month_add(month: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``month`` (negative: before)."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The half-open UTC interval [start, end) a month's partition holds."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end_month = month_add(month, 1)
    return start, dt.datetime(end_month.year, end_month.month, 1, tzinfo=dt.UTC)


def is_partitioned(cursor: CursorWrapper) -> bool:
    """Whether the audit table is a partitioned table here (false on SQLite and before the migration)."""
    if cursor.db.vendor != "postgresql":
        return False
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
    row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions_list(cursor: CursorWrapper) -> list[AuditPartition]:
    """The audit table's partitions, months in order, then the default partition if there is one."""
    cursor.execute(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = %s::regclass",
        [TABLE],
    )
    months: list[AuditPartition] = []
    default: list[AuditPartition] = []
    for (name,) in cursor.fetchall():
        found = _MONTH_NAME.match(name)
        if found:
            months.append(AuditPartition(name=name, month=dt.date(int(found[1]), int(found[2]), 1)))
        else:
            default.append(AuditPartition(name=name, month=None))
    return sorted(months, key=lambda partition: partition.month or dt.date.min) + default


def _months_in(cursor: CursorWrapper, table: str) -> set[dt.date]:
    cursor.execute(f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')::date FROM {table}")
    return {row[0] for row in cursor.fetchall()}


def _append_only(cursor: CursorWrapper, partition: str) -> None:
    # The parent's row triggers are cloned onto each partition, its TRUNCATE trigger is not: a partition is a
    # table of its own that could be truncated by name, so it gets the append-only mechanism itself.
    for statement in create_trigger_sql(partition, vendor="postgresql"):
        cursor.execute(statement)


def _partition_create(cursor: CursorWrapper, month: dt.date) -> None:
    start, end = month_bounds(month)
    cursor.execute(
        f"CREATE TABLE {partition_name(month)} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    _append_only(cursor, partition_name(month))


def _default_create(cursor: CursorWrapper) -> None:
    cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
    _append_only(cursor, DEFAULT_PARTITION)


def partitions_ensure(cursor: CursorWrapper, *, months: Iterable[dt.date]) -> list[dt.date]:
    """Create the partitions of ``months`` and of every month found in the default partition; the months created.

    Safe to run twice. Rows waiting in the default partition move into their months: PostgreSQL refuses to
    create a partition for rows the default holds, so the default is detached, the partitions and a new empty
    default created, its rows inserted again through the parent, and the old default dropped, all in the
    caller's transaction (`transaction.atomic`) under an exclusive lock. No row is changed or lost, only
    moved; with beat running the default is always empty and this is a few catalogue reads.
    """
    existing = {partition.month for partition in partitions_list(cursor)}
    has_default = None in existing
    in_default = _months_in(cursor, DEFAULT_PARTITION) if has_default else set()
    missing = sorted(({month_of(month) for month in months} | in_default) - existing)
    if not in_default:
        for month in missing:
            _partition_create(cursor, month)
        if not has_default:
            _default_create(cursor)
        return missing
    waiting = f"{DEFAULT_PARTITION}_waiting"
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {DEFAULT_PARTITION}")
    cursor.execute(f"ALTER TABLE {DEFAULT_PARTITION} RENAME TO {waiting}")
    for month in missing:
        _partition_create(cursor, month)
    _default_create(cursor)
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {waiting}")
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the deferred foreign keys before more DDL
    cursor.execute(f"DROP TABLE {waiting}")
    return missing


def audit_keys_install(cursor: CursorWrapper) -> None:
    """The side table of live idempotency keys and the INSERT trigger that fills it (idempotent)."""
    cursor.execute(_KEYS_DDL)
    cursor.execute(
        f"CREATE OR REPLACE TRIGGER {KEYS_TRIGGER} BEFORE INSERT ON {TABLE} FOR EACH ROW "
        f"WHEN (NEW.idempotency_key IS NOT NULL) EXECUTE FUNCTION {KEYS_FUNCTION}()"
    )


def audit_keys_purge(cursor: CursorWrapper, *, now: dt.datetime) -> int:
    """Forget idempotency keys older than the window (the trigger would take them over anyway); how many."""
    cursor.execute(
        f"DELETE FROM {KEYS_TABLE} WHERE created_at < %s",
        [now - dt.timedelta(days=IDEMPOTENCY_WINDOW_DAYS)],
    )
    return cursor.rowcount


@dataclass(frozen=True)
class _TableShape:
    """What a rebuild carries over from the old table: indexes, outgoing foreign keys and triggers, as DDL."""

    indexes: list[tuple[str, str]]
    foreign_keys: list[tuple[str, str]]
    triggers: list[str]


def _table_shape(cursor: CursorWrapper) -> _TableShape:
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND NOT indisprimary",
        [TABLE],
    )
    # A partitioned table's index is defined ON ONLY the parent; rebuilt, it is created on the whole table.
    indexes = [(name, definition.replace(" ON ONLY ", " ON ")) for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )
    foreign_keys = [(name, definition) for name, definition in cursor.fetchall()]
    cursor.execute(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        [TABLE],
    )
    triggers = [definition for name, definition in cursor.fetchall() if name != KEYS_TRIGGER]
    cursor.execute(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )
    referencing = [row[0] for row in cursor.fetchall()]
    if referencing:
        # Drop them first (db_constraint=False): a foreign key cannot reference a partitioned table's `id`.
        raise RuntimeError(f"{TABLE} cannot be rebuilt while foreign keys reference it: {', '.join(referencing)}")
    return _TableShape(indexes=indexes, foreign_keys=foreign_keys, triggers=triggers)


def audit_table_rebuild(cursor: CursorWrapper, *, partitioned: bool, now: dt.datetime, months_ahead: int) -> None:
    """Rebuild the audit table as monthly partitions (``partitioned``) or as one plain table, keeping every row.

    Used by the migration both ways. Columns come over as they are (``LIKE``), and so do the indexes, the
    outgoing foreign keys and the triggers (whatever migrations had installed, the append-only refusal among
    them); the primary key becomes ``(id, created_at)`` or ``(id)``. Partitioned, there is a partition for
    every month holding rows, for this month and ``months_ahead`` more, and a default partition. Runs in the
    migration's transaction: it either all happens or not at all.
    """
    shape = _table_shape(cursor)
    old = f"{TABLE}_before_rebuild"
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {TABLE}_pkey TO {old}_pkey")
    for name, _ in shape.indexes:
        cursor.execute(f"DROP INDEX {name}")  # frees the name for the rebuilt table
    partition_by = " PARTITION BY RANGE (created_at)" if partitioned else ""
    cursor.execute(f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){partition_by}")
    primary_key = "id, created_at" if partitioned else "id"
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY ({primary_key})")
    for name, definition in shape.foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
    if partitioned:
        current = month_of(now)
        ahead = [month_add(current, offset) for offset in range(months_ahead + 1)]
        partitions_ensure(cursor, months=sorted(_months_in(cursor, old) | set(ahead)))
        audit_keys_install(cursor)
    for definition in shape.triggers:
        cursor.execute(definition)
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {old}")
    # The foreign keys are deferred; their checks must run before the table's DDL can go on.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for _, definition in shape.indexes:
        cursor.execute(definition)
    cursor.execute(f"DROP TABLE {old}")
    if not partitioned:
        cursor.execute(f"DROP TABLE IF EXISTS {KEYS_TABLE}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {KEYS_FUNCTION}()")
    cursor.execute(f"ANALYZE {TABLE}")
