"""The prediction records in the admin: searchable by order id, shown read-only, never deletable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from predictions.models import PredictionAuditArchive, ShadowPrediction
from predictions.tests.factories import served_with_outcomes, shadow_scored
from registry.tests.factories import ModelVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_audits_outcomes_and_shadow_predictions_are_found_by_order_id(staff: Client) -> None:
    champion = ModelVersionFactory()
    challenger = ModelVersionFactory(registered_model=champion.registered_model)
    audits = served_with_outcomes(version=champion, errors=[1.0, 2.0])
    shadow_scored(audits=audits, challenger=challenger, errors=[0.5, 0.5])
    wanted, other = audits

    for model in ("predictionaudit", "predictionoutcome", "shadowprediction"):
        page = staff.get(reverse(f"admin:predictions_{model}_changelist"), {"q": wanted.order_id})
        assert page.status_code == 200, model
        assert wanted.order_id in page.content.decode() and other.order_id not in page.content.decode(), model


def test_an_out_of_distribution_shadow_prediction_is_a_warning_with_rounded_figures(staff: Client) -> None:
    champion = ModelVersionFactory()
    challenger = ModelVersionFactory(registered_model=champion.registered_model)
    (audit,) = served_with_outcomes(version=champion, errors=[1.0])
    ShadowPrediction.objects.create(
        tenant_id=challenger.tenant_id,
        audit=audit,
        model_version=challenger,
        artifact_sha256=challenger.artifact_sha256,
        predicted_eta_minutes=31.234567,
        quantiles={},
        confidence_score=0.5,
        is_ood=True,
        latency_ms=51.478676999977324,
    )

    page = staff.get(reverse("admin:predictions_shadowprediction_changelist")).content.decode()

    assert "il-warning" in page and "icon-yes.svg" not in page
    assert "51.5" in page and "51.478676999977324" not in page and "31.2" in page and "31.234567" not in page


def test_an_audit_row_is_shown_read_only_and_cannot_be_deleted(staff: Client) -> None:
    (audit,) = served_with_outcomes(version=ModelVersionFactory(), errors=[1.0])

    page = staff.get(reverse("admin:predictions_predictionaudit_change", args=[audit.pk]))
    deleted = staff.post(reverse("admin:predictions_predictionaudit_delete", args=[audit.pk]), {"post": "yes"})

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert deleted.status_code == 403
    audit.refresh_from_db()  # raises if the row is gone


def test_archived_months_are_listed_with_their_file_and_hash_read_only(staff: Client) -> None:
    archive = PredictionAuditArchive.objects.create(
        month=dt.date(2025, 11, 1), path="2025/prediction-audit-2025-11.parquet", sha256="ab" * 32, rows=3, size_bytes=9
    )

    page = staff.get(reverse("admin:predictions_predictionauditarchive_changelist"))
    deleted = staff.post(reverse("admin:predictions_predictionauditarchive_delete", args=[archive.pk]), {"post": "yes"})

    assert page.status_code == 200
    assert archive.path in page.content.decode() and archive.sha256 in page.content.decode()
    assert deleted.status_code == 403 and PredictionAuditArchive.objects.filter(pk=archive.pk).exists()
