"""Registry events, shadow evaluations and promotion requests become append-only in the database too.

A promotion request may change while it is pending (its decision); events and looks never change.
"""

from django.db import migrations

from intellilog.append_only import append_only_operations


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_shadow_evaluation_automatic_rollback")]

    operations = [
        *append_only_operations("registry_registryevent"),
        *append_only_operations("registry_shadowevaluation"),
        *append_only_operations("registry_promotionrequest", mutable_while=("status", "pending")),
    ]
