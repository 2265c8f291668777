"""Alerts' history is append-only: a firing alert may still change, a resolved one never, and none is deleted."""

from django.db import migrations

from intellilog.append_only import append_only_operations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_operational_alert_rules")]

    operations = [*append_only_operations("monitoring_alert", mutable_while=("status", "firing"))]
