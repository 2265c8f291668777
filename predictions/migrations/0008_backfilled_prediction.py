"""Backfilled predictions: versions scored on stored history, apart from live shadow evidence."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from intellilog.append_only import append_only_operations


class Migration(migrations.Migration):

    dependencies = [
        ('deliveries', '0002_alter_delivery_import_batch'),
        ('predictions', '0007_prediction_source_simulation'),
        ('registry', '0007_shadow_evaluation_source'),
        ('tenants', '0003_time_zone_validated_revoke_permission'),
    ]

    operations = [
        migrations.CreateModel(
            name='BackfilledPrediction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('artifact_sha256', models.CharField(max_length=64)),
                ('ordered_at', models.DateTimeField(help_text="the delivery's order time (pairs are taken in this order)")),
                ('predicted_eta_minutes', models.FloatField()),
                ('p05_minutes', models.FloatField(null=True)),
                ('p95_minutes', models.FloatField(null=True)),
                ('actual_minutes', models.FloatField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='deliveries.delivery')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.modelversion')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenants.tenant')),
            ],
            options={
                'ordering': ['-ordered_at'],
                'indexes': [models.Index(fields=['model_version', 'ordered_at'], name='backfilled_version_time_idx')],
                'constraints': [models.UniqueConstraint(fields=('delivery', 'model_version'), name='backfilled_prediction_unique_version')],
            },
        ),
        *append_only_operations("predictions_backfilledprediction"),
    ]
