"""Shadow A/B looks say where their pairs came from: live traffic or backfilled history."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0006_backtest'),
        ('tenants', '0003_time_zone_validated_revoke_permission'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='shadowevaluation',
            name='shadow_evaluation_unique_look',
        ),
        migrations.AddField(
            model_name='shadowevaluation',
            name='source',
            field=models.CharField(choices=[('live', 'Live traffic'), ('backfilled', 'Backfilled from stored history')], default='live', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='shadowevaluation',
            constraint=models.UniqueConstraint(fields=('champion', 'challenger', 'source', 'look'), name='shadow_evaluation_unique_source_look'),
        ),
    ]
