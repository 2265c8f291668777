"""Backtests of model versions: append-only records of a replay over stored history."""

import django.db.models.deletion
from django.db import migrations, models

from intellilog.append_only import append_only_operations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_archive_permission"),
        ("tenants", "0003_time_zone_validated_revoke_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="Backtest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("start_date", models.DateField(help_text="first local day replayed")),
                ("end_date", models.DateField(help_text="last local day replayed")),
                ("days", models.JSONField()),
                ("overall", models.JSONField()),
                ("data_cut", models.JSONField()),
                ("created_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.tenant"
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="backtests",
                        to="registry.modelversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["version", "start_date", "end_date"], name="backtest_version_range_idx")
                ],
            },
        ),
        *append_only_operations("registry_backtest"),
    ]
