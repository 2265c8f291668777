"""Append-only tables: rows are inserted and never rewritten or removed, in the ORM and in the database.

One mechanism for every governance record (the prediction audit, outcomes, registry events, promotion
requests, alerts' history, ...), in two layers that state the same rule:

- the ORM guard, `AppendOnlyModel`: ``save()`` of a stored row, ``delete()``, and a queryset's ``update()``
  and ``delete()`` raise `AppendOnlyError` before any SQL is sent;
- the database trigger, from `append_only_operations(table)` in the table's migration: PostgreSQL refuses
  UPDATE and DELETE of a row and TRUNCATE of the table (SQLite: UPDATE and DELETE), so raw SQL, another
  service or a script that bypasses the ORM is refused too.

A record that settles once (a promotion request is decided, a firing alert is resolved) declares the state
in which it may still change, ``mutable_while = ("status", "pending")``: while the *stored* row has that
value it may be updated (that update is its settlement); afterwards it is frozen like any other row.
Deleting is refused in every state.

Adding a table::

    class RegistryEvent(AppendOnlyModel, TenantOwned):  # models.py
        ...

    operations = [..., *append_only_operations("registry_registryevent")]  # its migration

    class PromotionRequest(AppendOnlyModel, TenantOwned):
        append_only_mutable_while = ("status", "pending")

    operations = [*append_only_operations("registry_promotionrequest", mutable_while=("status", "pending"))]

The trigger only stops roles that cannot disable it: the application must connect as a role that neither
owns the tables nor is a superuser (docs/security.md). Tests that commit (``transaction=True``) flush the
database with TRUNCATE; the root conftest lets that flush through for the test database only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FUNCTION = "intellilog_append_only"

# Row triggers pass the mutable_while column and value as trigger arguments; the value is compared as text
# through to_jsonb so one function serves every table.
_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_NARGS = 2 AND to_jsonb(OLD) ->> TG_ARGV[0] = TG_ARGV[1] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql
"""


class AppendOnlyError(Exception):
    """Raised on an attempt to change or delete an append-only row through the ORM."""


def _refuse(model: type[models.Model], action: str) -> AppendOnlyError:
    return AppendOnlyError(f"{model.__name__} rows are append-only: {action} refused")


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk deletes always, and bulk updates of rows outside the model's mutable state."""

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _refuse(self.model, "delete")

    def update(self, **kwargs: Any) -> int:
        mutable_while = getattr(self.model, "append_only_mutable_while", None)
        if mutable_while is None:
            raise _refuse(self.model, "update")
        field, value = mutable_while
        # Checked in the same statement's snapshot as far as the ORM can; the trigger is the final word.
        if self.exclude(**{field: value}).exists():
            raise _refuse(self.model, f"update of a row whose {field} is not {value!r}")
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        # Refused before bulk_update opens its transaction, so a caller's own transaction stays usable.
        if getattr(self.model, "append_only_mutable_while", None) is None:
            raise _refuse(self.model, "update")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    # The path Django's deletion Collector takes for fast deletes.
    def _raw_delete(self, using: str) -> int:
        raise _refuse(self.model, "delete")


class AppendOnlyModel(models.Model):
    """Abstract base of an append-only table: insert freely, never rewrite or delete through the ORM.

    ``append_only_mutable_while`` (field, value), when set, lets a stored row whose field still has that
    value be saved again (its one settlement); pass the same pair to `append_only_operations`.
    """

    append_only_mutable_while: ClassVar[tuple[str, str] | None] = None

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and not self._is_stored_mutable():
            raise _refuse(type(self), "update")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise _refuse(type(self), "delete")

    def _is_stored_mutable(self) -> bool:
        # The stored row decides, not the instance: a caller may already have set the settled value.
        if self.append_only_mutable_while is None:
            return False
        field, value = self.append_only_mutable_while
        return type(self)._base_manager.filter(pk=self.pk, **{field: value}).exists()


def append_only_operations(table: str, *, mutable_while: tuple[str, str] | None = None) -> list[migrations.RunPython]:
    """The migration operations that make ``table`` append-only in the database (reversible).

    ``mutable_while`` is the (column, value) pair of the model's ``append_only_mutable_while``. Safe to run
    on a table that already has the triggers (they are replaced).
    """

    def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in create_trigger_sql(table, vendor=schema_editor.connection.vendor, mutable_while=mutable_while):
            schema_editor.execute(statement, params=None)

    def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in drop_trigger_sql(table, vendor=schema_editor.connection.vendor):
            schema_editor.execute(statement, params=None)

    return [migrations.RunPython(forward, backward)]


def create_trigger_sql(table: str, *, vendor: str, mutable_while: tuple[str, str] | None = None) -> list[str]:
    """The statements installing the append-only triggers on ``table`` for a database vendor."""
    args = ", ".join(_quote_literal(part) for part in mutable_while) if mutable_while else ""
    if vendor == "postgresql":
        return [
            _CREATE_FUNCTION,
            *drop_trigger_sql(table, vendor=vendor),
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({args})",
            f'CREATE TRIGGER "{table}_append_only_truncate" BEFORE TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        ]
    if vendor == "sqlite":
        message = _quote_literal(f"{table} rows are append-only")
        allowed = f' WHEN OLD."{mutable_while[0]}" IS NOT {_quote_literal(mutable_while[1])}' if mutable_while else ""
        return [
            *drop_trigger_sql(table, vendor=vendor),
            f'CREATE TRIGGER "{table}_append_only_update" BEFORE UPDATE ON "{table}"{allowed} '
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
            f'CREATE TRIGGER "{table}_append_only_delete" BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
        ]
    return []


def drop_trigger_sql(table: str, *, vendor: str) -> list[str]:
    """The statements removing what `create_trigger_sql` installed (the shared function stays)."""
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"',
            f'DROP TRIGGER IF EXISTS "{table}_append_only_truncate" ON "{table}"',
        ]
    if vendor == "sqlite":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_append_only_update"',
            f'DROP TRIGGER IF EXISTS "{table}_append_only_delete"',
        ]
    return []


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
