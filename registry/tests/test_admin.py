"""The maker-checker flow through the admin pages, as two different people would click it."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from deliveries.selectors import deliveries_frame
from registry.choices import Alias, RequestStatus
from registry.evidence import SHAP_SAMPLE_ROWS, SHAP_SAMPLE_SEED, fairness_gap_figure, shap_beeswarm_figure, shap_sample
from registry.loader import model_version_load
from registry.models import Backtest, PromotionRequest
from registry.services import alias_version, promotion_request_create
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from registry.tests.test_services import tamper
from registry.training import eta_model_train, training_data

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_request_then_self_approval_refused_then_second_person_approves(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    version = eta_model_train(tenant=tenant_with_history, created_by="test")
    maker = approver(is_superuser=True)
    checker = approver()
    maker_client, checker_client = logged_in(maker), logged_in(checker)

    listing = maker_client.get(reverse("admin:registry_modelversion_changelist")).content.decode()
    assert "Request promotion" in listing and f"{version.metrics['mae']:.2f}" in listing
    maker_client.post(
        reverse("admin:registry_modelversion_request_promotion", args=[version.pk]), {"text": "lower MAE"}
    )
    request = PromotionRequest.objects.get(version=version)

    page = maker_client.get(reverse("admin:registry_promotionrequest_change", args=[request.pk])).content.decode()
    assert "Evidence for the reviewer" in page and "Approve" in page
    assert page.count("data:image/png;base64,") == 4  # SHAP beeswarm, residuals, calibration, fairness gaps
    assert 'alt="SHAP summary (beeswarm): what moves the ETA"' in page
    assert "Worst segment:" in page and "no champion yet" in page
    assert f"{version.metrics['mae']:.2f} min" in page
    refused = maker_client.post(
        reverse("admin:registry_promotionrequest_approve", args=[request.pk]), {"text": "me"}, follow=True
    )
    assert "Maker-checker: the person who requested a promotion cannot decide it" in refused.content.decode()
    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) is None

    approved = checker_client.post(
        reverse("admin:registry_promotionrequest_approve", args=[request.pk]), {"text": "ok"}, follow=True
    )
    assert f"Approved: {version} is now the champion." in approved.content.decode()
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.decided_by == checker
    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) == version


def test_rollback_page_requires_the_approve_permission() -> None:
    version = ModelVersionFactory()
    staff = UserFactory()
    response = logged_in(staff).get(
        reverse("admin:registry_registeredmodel_rollback", args=[version.registered_model.pk])
    )
    assert response.status_code == 403


def test_approving_a_tampered_artifact_shows_the_refusal_and_the_request_stays_pending() -> None:
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="first champion")
    tamper(version)

    page = logged_in(approver()).post(
        reverse("admin:registry_promotionrequest_approve", args=[request.pk]), {"text": "ok"}, follow=True
    )

    assert page.status_code == 200
    assert f"{version} cannot become the champion: artifact {version.artifact_path} fails its checksum" in (
        page.content.decode()
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) is None


def test_version_page_shows_metrics_rounded_with_units_and_the_json_raw(admin_client) -> None:  # type: ignore[no-untyped-def]
    metrics = {"mae": 2.8697684540483537, "within_5_min": 0.81234, "p95_latency_ms": 51.478676999977324}
    version = ModelVersionFactory(metrics=metrics, lineage={"rows": 2486, "data": {"sha256": "abc123"}})

    html = admin_client.get(reverse("admin:registry_modelversion_change", args=[version.pk])).content.decode()

    before, rest = html.split('<details class="il-raw">', 1)
    raw, after = rest.split("</details>", 1)
    page = before + after
    assert "2.87 min" in page and "81.2%" in page and "51.5 ms" in page and "abc123" in page
    assert "2.8697684540483537" not in page and "51.478676999977324" not in page
    assert "2.8697684540483537" in raw and "51.478676999977324" in raw


def test_the_evidence_page_draws_the_versions_fairness_gaps_as_bars() -> None:
    segments = [
        {"dimension": "traffic", "value": "jam", "mae_gap": 1.7, "metrics": {"count": 80, "mae": 4.6}},
        {"dimension": "traffic", "value": "low", "mae_gap": -0.4, "metrics": {"count": 120, "mae": 2.5}},
        {"dimension": "vehicle", "value": "bike", "mae_gap": 0.3, "metrics": {"count": 60, "mae": 3.2}},
    ]
    version = ModelVersionFactory(evaluation={"overall": {"mae": 2.9}, "segments": segments})
    maker = approver(is_superuser=True)
    request = PromotionRequest.objects.create(
        tenant=version.tenant, version=version, requested_by=maker, reason="lower MAE"
    )

    page = logged_in(maker).get(reverse("admin:registry_promotionrequest_change", args=[request.pk])).content.decode()

    section = page.split('<section id="fairness">', 1)[1].split("</section>", 1)[0]
    assert '<img class="il-chart" src="data:image/png;base64,' in section
    bars = fairness_gap_figure(version.evaluation).axes[0]
    assert [patch.get_width() for patch in bars.patches] == [1.7, -0.4, 0.3]
    labels = [label.get_text() for label in bars.get_yticklabels()]
    assert labels == ["traffic = jam", "traffic = low", "vehicle = bike"]


def test_the_shap_beeswarm_is_drawn_from_the_version_on_a_bounded_seeded_sample(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    version = eta_model_train(tenant=tenant_with_history, created_by="test")
    predictor = model_version_load(version=version)
    features = training_data(history=deliveries_frame(tenant=tenant_with_history), time_zone=ZoneInfo("UTC")).features

    explanation = shap_sample(predictor, features)

    assert explanation.values.shape == (min(len(features), SHAP_SAMPLE_ROWS), len(predictor.feature_names))
    assert (shap_sample(predictor, features).values == explanation.values).all()  # seeded: the same rows
    # Real SHAP values of this version: each row's values plus its base value are its point ETA.
    totals = explanation.values.sum(axis=1) + explanation.base_values
    rows = features.sample(n=len(totals), random_state=SHAP_SAMPLE_SEED)
    np.testing.assert_allclose(totals, predictor.predict_frame(rows).eta_minutes, atol=1e-3)
    axes = shap_beeswarm_figure(explanation).axes[0]
    labels = [label.get_text() for label in axes.get_yticklabels()]
    top = np.argsort(-np.abs(explanation.values).mean(axis=0))[0]
    assert labels[-1] == predictor.feature_names[top]  # the beeswarm puts the strongest feature on top
    assert sum(len(collection.get_offsets()) for collection in axes.collections) >= len(totals)


def test_the_approval_page_shows_both_backtests_on_the_same_days_and_computes_the_champions(two_versions) -> None:  # type: ignore[no-untyped-def]
    tenant, end = two_versions.tenant, two_versions.last_day
    start = end - dt.timedelta(days=3)
    call_command(
        "backtest_model_version", f"{tenant.slug}/2", "--from", str(start), "--to", str(end), stdout=io.StringIO()
    )
    maker, checker, viewer = approver(is_superuser=True), approver(), UserFactory(is_superuser=False)
    request = PromotionRequest.objects.create(
        tenant=tenant, version=two_versions.candidate, requested_by=maker, reason="lower MAE"
    )
    page_url = reverse("admin:registry_promotionrequest_change", args=[request.pk])
    compute_url = reverse("admin:registry_promotionrequest_backtest_champion", args=[request.pk])

    before = section_of(logged_in(checker).get(page_url).content.decode(), "backtests")
    assert "The champion v1 has no backtest over these days" in before and compute_url in before
    confirm = logged_in(checker).get(compute_url).content.decode()
    assert f"Backtest the champion {two_versions.champion} over {start}..{end}" in confirm
    assert logged_in(viewer).post(compute_url).status_code == 403
    assert not Backtest.objects.filter(version=two_versions.champion).exists()

    logged_in(checker).post(compute_url)
    after = section_of(logged_in(checker).get(page_url).content.decode(), "backtests")

    candidate = Backtest.objects.get(version=two_versions.candidate)
    champion = Backtest.objects.get(version=two_versions.champion)
    assert (champion.start_date, champion.end_date) == (start, end)
    assert "has no backtest" not in after and '<img class="il-chart" src="data:image/png;base64,' in after
    for candidate_day, champion_day in zip(candidate.days, champion.days, strict=True):
        row = after.split(f"<td>{candidate_day['day']}", 1)[1].split("</tr>", 1)[0]
        assert f"<td>{candidate_day['mae']:.2f} min</td>" in row and f"<td>{champion_day['mae']:.2f} min</td>" in row
    assert (
        f"<th>{candidate.overall['mae']:.2f} min</th>" in after
        and f"<th>{champion.overall['mae']:.2f} min</th>" in after
    )
    logged_in(checker).post(compute_url)  # twice: the task replays nothing already there
    assert Backtest.objects.filter(version=two_versions.champion).count() == 1


def section_of(page: str, section_id: str) -> str:
    return page.split(f'<section id="{section_id}">', 1)[1].split("</section>", 1)[0]
