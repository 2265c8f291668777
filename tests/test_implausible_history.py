"""A tenant's pipeline survives stored deliveries whose instants are implausible: skipped and reported, never a crash.

The entrances refuse such rows now, but a row stored before the rules (or written around them, by SQL) must
not disable a tenant's training, materialisation, feature fallback or commands for good, as one outcome
with a pickup in 9999 used to.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from core.features import Entity, EntityKey
from deliveries.models import Delivery, ImportBatch
from deliveries.selectors import deliveries_frame, deliveries_implausible
from deliveries.tests.factories import DeliveryFactory
from features.selectors import entity_completions_frame
from features.services import features_materialize
from registry.models import ModelVersion
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

COURIER = "INDORES13DEL02"


@pytest.fixture
def tenant_with_bad_rows(tmp_path: Path, model_storage: None) -> tuple[Tenant, list[int]]:
    """3,000 synthetic deliveries imported, and four stored around the rules: 9999, 2262, 1600 and a late pickup."""
    tenant = TenantFactory()
    config = SyntheticConfig(rows=3000, seed=11, days=21)
    call_command("import_deliveries", str(write_synthetic_file(tmp_path / "h.csv.gz", config)), tenant=tenant.slug)
    utc = dt.UTC
    march = dt.datetime(2022, 3, 5, 12, 0, tzinfo=utc)
    bad = Delivery.objects.bulk_create(
        [
            DeliveryFactory.build(
                tenant=tenant,
                import_batch=None,
                external_order_id=f"bad-{index}",
                courier_id=COURIER,
                ordered_at=ordered_at,
                picked_at=picked_at,
            )
            for index, (ordered_at, picked_at) in enumerate(
                (
                    (dt.datetime(9999, 12, 31, 23, 0, tzinfo=utc), dt.datetime(9999, 12, 31, 23, 5, tzinfo=utc)),
                    (dt.datetime(2262, 6, 1, tzinfo=utc), dt.datetime(2262, 6, 1, 0, 10, tzinfo=utc)),
                    (dt.datetime(1600, 6, 1, tzinfo=utc), dt.datetime(1600, 6, 1, 0, 10, tzinfo=utc)),
                    (march, march + dt.timedelta(days=30)),
                )
            )
        ]
    )
    return tenant, sorted(delivery.pk for delivery in bad)


def test_training_skips_and_records_implausible_rows_and_reproduces(tenant_with_bad_rows, capsys) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = tenant_with_bad_rows

    call_command("train_eta", "--tenant", tenant.slug)

    version = ModelVersion.objects.get(tenant=tenant)
    data = version.lineage["data"]
    imported = ImportBatch.objects.get(tenant=tenant).rows_imported
    assert (data["rows"], data["rows_skipped_implausible"]) == (imported, 4)
    assert data["ordered_at_max"] < "2023"
    assert f"skipped 4 stored deliveries of tenant {tenant.slug}" in capsys.readouterr().err
    call_command("reproduce_model_version", f"{tenant.slug}/{version.version}")
    assert f"reproduced: {version}" in capsys.readouterr().out


def test_materialisation_and_the_database_fallback_skip_them(tenant_with_bad_rows) -> None:  # type: ignore[no-untyped-def]
    tenant, bad_ids = tenant_with_bad_rows

    result = features_materialize(tenant=tenant)

    # Rows ordered after the materialisation's time (9999, 2262) are not read at all; the other two are skipped.
    imported = ImportBatch.objects.get(tenant=tenant).rows_imported
    assert result.deliveries_read == imported and result.skipped.count == 2
    assert result.skipped.example_ids == bad_ids[2:]
    completions = entity_completions_frame(tenant=tenant, entity_keys=[EntityKey(Entity.COURIER, COURIER)])
    assert completions["ordered_at"].dt.year.max() < 2023
    assert deliveries_implausible(tenant=tenant).count == 4
    assert len(deliveries_frame(tenant=tenant)) == imported


def test_commands_refuse_implausible_instants_naming_the_option(tenant_with_bad_rows) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = tenant_with_bad_rows
    for command, option, value in (
        ("train_eta", "--until", "9999-12-31"),
        ("materialize_features", "--as-of", "9999-12-31T23:00:00"),
        ("materialize_features", "--as-of", "1600-01-01"),
    ):
        with pytest.raises(CommandError, match=f"{option}: .* is implausible"):
            call_command(command, "--tenant", tenant.slug, option, value)
    assert not ModelVersion.objects.filter(tenant=tenant).exists()
