"""On PostgreSQL, refuse UPDATE and DELETE of audit and outcome rows in the database itself.

The models already refuse it through the ORM; the trigger also stops a queryset .update()/.delete(), a
raw SQL session or another service, so the audit trail is append-only whoever writes to the database.
Archiving old months detaches partitions (see the README) and never deletes rows.
"""

from django.db import migrations

TABLES = ("predictions_predictionaudit", "predictions_predictionoutcome", "predictions_batchpredictionrun")

FUNCTION = """
CREATE OR REPLACE FUNCTION intellilog_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION intellilog_refuse_change()"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS intellilog_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("predictions", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
