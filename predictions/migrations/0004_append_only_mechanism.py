"""Move the prediction tables onto the shared append-only mechanism (intellilog.append_only).

0002 and 0003 installed per-table UPDATE/DELETE triggers calling intellilog_refuse_change(); the shared
triggers replace them (same trigger names) and add the TRUNCATE refusal, so the old function goes.
"""

from django.db import migrations

from intellilog.append_only import append_only_operations

TABLES = (
    "predictions_predictionaudit",
    "predictions_predictionoutcome",
    "predictions_batchpredictionrun",
    "predictions_shadowprediction",
)


def drop_old_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS intellilog_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("predictions", "0003_shadow_prediction")]

    operations = [
        *(operation for table in TABLES for operation in append_only_operations(table)),
        migrations.RunPython(drop_old_function, migrations.RunPython.noop),
    ]
