"""The admin shows batches with their quality report, rejected rows and distribution charts, read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from core.tests.delivery.rows import raw_row, write_rows
from deliveries.services import deliveries_import
from tenants.models import ApiKey
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(tmp_path: Path):  # type: ignore[no-untyped-def]
    rows = [raw_row(order_id=f"0x{i}", delivery_minutes=str(15 + i)) for i in range(20)]
    rows.append(raw_row(order_id="0xbad", courier_rating="6"))
    return deliveries_import(tenant=TenantFactory(), path=write_rows(tmp_path / "h.csv", rows)).batch


def test_batch_page_shows_report_rejected_rows_and_charts(admin_client, batch) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(reverse("admin:deliveries_importbatch_change", args=[batch.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"{batch.quality_report.score}" in html or f"{batch.quality_report.score:g}" in html
    assert "courier_rating: 6 outside 1.0..5.0" in html
    assert html.count("data:image/png;base64,") == 9  # 5 numeric + 4 categorical columns
    assert 'name="_save"' not in html  # read-only


def test_batch_list_shows_counts_and_quality(admin_client, batch) -> None:  # type: ignore[no-untyped-def]
    html = admin_client.get(reverse("admin:deliveries_importbatch_changelist")).content.decode()
    assert "h.csv" in html
    assert f"{batch.quality_report.score:.1f}" in html


def test_deliveries_cannot_be_deleted_from_the_admin(admin_client, batch) -> None:  # type: ignore[no-untyped-def]
    delivery = batch.deliveries.first()
    response = admin_client.post(reverse("admin:deliveries_delivery_delete", args=[delivery.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert batch.deliveries.count() == 20


def test_issue_key_action_shows_the_key_once_and_stores_its_hash(admin_client) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    response = admin_client.post(
        reverse("admin:tenants_tenant_changelist"),
        {"action": "issue_api_key", "_selected_action": [tenant.pk]},
        follow=True,
    )
    html = response.content.decode()
    raw_key = html.split("<td><code>")[1].split("</code>")[0].strip()
    api_key = ApiKey.objects.get(tenant=tenant)
    assert raw_key.startswith(f"il_{api_key.prefix}.")
    assert raw_key.split(".", 1)[1] not in api_key.hashed_secret
