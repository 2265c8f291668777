"""`manage.py check_data_quality`: the training gate's verdict and its batch reports, on demand."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from deliveries.models import DataQualityReport, ImportBatch
from deliveries.selectors import tenant_quality_gate
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(tmp_path: Path):  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    path = write_synthetic_file(tmp_path / "history.csv.gz", SyntheticConfig(rows=800, seed=3, days=10))
    call_command("import_deliveries", str(path), tenant=tenant.slug, stdout=io.StringIO(), stderr=io.StringIO())
    return tenant


def run(*arguments: str) -> str:
    out = io.StringIO()
    call_command("check_data_quality", *arguments, stdout=out)
    return out.getvalue()


def test_the_json_report_is_the_gate_verdict_with_every_batch_score(imported) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(run("--tenant", imported.slug, "--json"))

    [batch] = ImportBatch.objects.filter(tenant=imported)
    stored = DataQualityReport.objects.get(batch=batch)
    assert report["verdict"]["passes"] is tenant_quality_gate(tenant=imported).passes is True
    [shown] = report["batches"]
    assert (shown["batch_id"], shown["rows_imported"]) == (batch.pk, batch.rows_imported)
    assert (shown["score"], shown["passes_gate"], shown["components"]) == (
        stored.score,
        True,
        stored.components,
    )


def test_a_failing_batch_makes_the_command_fail_and_name_it(imported) -> None:  # type: ignore[no-untyped-def]
    batch = ImportBatch.objects.get(tenant=imported)
    DataQualityReport.objects.filter(batch=batch).update(score=42.0, passes_gate=False)

    with pytest.raises(CommandError) as refused:
        run("--tenant", imported.slug)

    assert refused.value.returncode == 1
    with pytest.raises(CommandError):
        text = io.StringIO()
        call_command("check_data_quality", "--tenant", imported.slug, stdout=text)
    assert f"batch #{batch.pk} scored 42.0" in text.getvalue() and "[FAIL]" in text.getvalue()


def test_a_tenant_without_history_is_refused_and_an_unknown_slug_is_an_error() -> None:
    tenant = TenantFactory()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_data_quality", "--tenant", tenant.slug, "--json", stdout=out)
    assert json.loads(out.getvalue())["verdict"] == {
        "passes": False,
        "reason": f"tenant {tenant.slug} has no imported deliveries",
        "failing_batches": [],
    }
    with pytest.raises(CommandError, match="no tenant with slug 'nobody'"):
        run("--tenant", "nobody")
