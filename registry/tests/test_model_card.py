"""The model card of a version: the admin page, its Markdown download, and who may see them."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from features.services import feature_set_register_current
from registry.choices import VersionStatus
from registry.model_card import NOT_RECORDED, ModelCard, model_card_markdown, model_version_card
from registry.services import promotion_request_approve, promotion_request_create, promotion_request_reject
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from registry.training import eta_model_train

pytestmark = pytest.mark.django_db

SEGMENT = {"count": 120, "mae": 4.25, "rmse": 5.1, "r2": 0.7, "within_5_min": 0.66, "interval_coverage": 0.88}
EVALUATION = {
    "overall": {"count": 600, "mae": 3.5, "rmse": 4.4, "r2": 0.77, "within_5_min": 0.75, "interval_coverage": 0.9},
    "segments": [
        {"dimension": "traffic", "value": "jam", "metrics": SEGMENT, "mae_gap": 0.75},
        {"dimension": "traffic", "value": "low", "metrics": {**SEGMENT, "mae": 3.0}, "mae_gap": -0.5},
    ],
    "worst_segment": {"dimension": "traffic", "value": "jam", "metrics": SEGMENT, "mae_gap": 0.75},
}
LINEAGE = {
    "data": {
        "tenant": "acme",
        "ordered_before": None,
        "delivery_id_at_most": 0,
        "rows": 4200,
        "ordered_at_min": "2022-02-11T00:10:00+00:00",
        "ordered_at_max": "2022-03-28T23:40:00+00:00",
        "content_sha256": "c0ffee" * 10 + "beef",
        "evaluation_start": "2022-03-21T23:40:00+00:00",
        "evaluation_rows": 600,
    },
    "feature_set": {"name": "eta_order_features", "version": 1},
    "params": {"feature_names": ["distance_km", "traffic"], "max_depth": 6, "seed": 0},
    "candidates": [],
    "seed": 0,
    "code_version": "abc123",
    "libraries": {"python": "3.11.2", "xgboost": "3.0.0"},
}


def card_reader():  # type: ignore[no-untyped-def]
    """A staff user holding what the card needs: the view permission on model versions (every admin page asks)."""
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_modelversion", content_type__app_label="registry"))
    return user


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def card_url(version) -> str:  # type: ignore[no-untyped-def]
    return reverse("admin:registry_modelversion_model_card", args=[version.pk])


def card_facts(card: ModelCard) -> list[str]:
    """Every value the card states about the model, its data, its evaluation and its fairness."""
    facts = [*card.details, *card.training_data, *card.procedure, *card.parameters, *card.libraries, *card.metrics]
    return [fact.value for fact in facts] + [card.worst_segment] + [row.segment for row in card.segments]


def test_a_trained_versions_card_shows_its_metrics_lineage_and_worst_segment_in_both_formats(  # type: ignore[no-untyped-def]
    tenant_with_history,
) -> None:
    version = eta_model_train(tenant=tenant_with_history, created_by="test")
    version.refresh_from_db()  # as the page reads it
    client = logged_in(card_reader())
    worst = version.evaluation["worst_segment"]
    worst_segment = f"{worst['dimension']} = {worst['value']}"
    expected = [
        f"{version.metrics['mae']:.3f} min",
        f"{version.metrics['rmse']:.3f} min",
        f"{version.metrics['r2']:.3f}",
        f"{version.metrics['within_5_min']:.1%}",
        f"{version.metrics['interval_coverage']:.1%}",
        version.lineage["data"]["content_sha256"],
        f"{version.lineage['data']['rows']:,}",
        version.artifact_sha256,
        version.mlflow_run_id,
        worst_segment,
        f"{worst['mae_gap']:+.3f} min above overall",
        "Great-circle distance pickup to drop",  # a feature's description
        "history.csv.gz",  # the import batch the snapshot came from
    ]

    response = client.get(card_url(version))

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for fact in expected:
        assert fact in page, fact
    card = model_version_card(version=version)
    assert card.worst_segment.startswith(worst_segment)
    for fact in card_facts(card):
        assert fact in page, fact

    download = client.get(card_url(version), {"format": "md"})

    assert download.status_code == 200
    assert download["Content-Type"] == "text/markdown; charset=utf-8"
    slug = tenant_with_history.slug
    assert download["Content-Disposition"] == f'attachment; filename="model-card-{slug}-eta-v{version.version}.md"'
    markdown = download.content.decode()
    assert markdown.startswith(f"# Model card: {version}\n")
    for fact in [*expected, *card_facts(card)]:
        assert fact in markdown, fact
    assert markdown == model_card_markdown(card)


def test_the_card_lists_promotion_requests_and_alias_events_of_the_version() -> None:
    feature_set_register_current()
    champion = ModelVersionFactory(metrics=EVALUATION["overall"], evaluation=EVALUATION, lineage=LINEAGE)
    maker, checker = UserFactory(username="maker"), approver(username="checker")
    rejected = promotion_request_create(version=champion, user=maker, reason="first try")
    promotion_request_reject(request=rejected, user=checker, comment="needs | more evidence")
    approved = promotion_request_create(version=champion, user=maker, reason="lower MAE")
    promotion_request_approve(request=approved, user=checker, comment="ok")

    card = model_version_card(version=champion)

    assert [(row.number, row.status, row.requested_by, row.decided_by) for row in card.promotion_requests] == [
        (f"#{rejected.pk}", "Rejected", "maker", "checker"),
        (f"#{approved.pk}", "Approved", "maker", "checker"),
    ]
    to_champion = f"- -> v{champion.version}"
    assert [(row.kind, row.actor, row.change) for row in card.events] == [
        ("Promotion requested", "maker", to_champion),
        ("Promotion rejected", "checker", to_champion),
        ("Promotion requested", "maker", to_champion),
        ("Promotion approved", "checker", to_champion),
        ("Champion moved", "checker", to_champion),
    ]
    details = {fact.label: fact.value for fact in card.details}
    assert details["Aliases"] == "champion"
    metrics = {fact.label: fact.value for fact in card.metrics}
    assert metrics["MAE"] == "3.500 min (target <= 3.45 min: NOT met)"
    assert metrics["p05-p95 interval coverage"] == "90.0% (target 88%-92%: met)"
    assert card.worst_segment == "traffic = jam: MAE 4.250 min, +0.750 min above overall"
    assert [(row.name, row.description) for row in card.features] == [
        ("distance_km", "Great-circle distance pickup to drop; valid even for placeholder coordinates."),
        ("traffic", "Road traffic density at order time."),
    ]
    assert any("MAE 3.500 min (target <= 3.45 min: NOT met)" in item for item in card.limitations)
    # The Markdown keeps a reason with a pipe inside its table cell.
    assert "needs \\| more evidence" in model_card_markdown(card)


def test_a_version_without_lineage_still_has_a_card() -> None:
    pending = ModelVersionFactory(status=VersionStatus.PENDING)

    page = logged_in(card_reader()).get(card_url(pending))

    assert page.status_code == 200
    card = model_version_card(version=pending)
    assert {fact.label: fact.value for fact in card.details}["Artifact sha256"] == NOT_RECORDED
    assert card.features == () and card.segments == () and card.import_batches == ()


def test_the_change_page_and_the_list_link_to_the_card() -> None:
    version = ModelVersionFactory()
    client = logged_in(card_reader())

    change = client.get(reverse("admin:registry_modelversion_change", args=[version.pk])).content.decode()
    listing = client.get(reverse("admin:registry_modelversion_changelist")).content.decode()

    assert f'href="{card_url(version)}"' in change
    assert f'href="{card_url(version)}"' in listing


def test_the_card_needs_a_staff_login() -> None:
    version = ModelVersionFactory(metrics=EVALUATION["overall"], evaluation=EVALUATION, lineage=LINEAGE)
    login = reverse("admin:login")
    non_staff = logged_in(get_user_model().objects.create_user("customer", password="x" * 16))
    for query in ({}, {"format": "md"}):
        for label, client in (("anonymous", Client()), ("non-staff", non_staff)):
            response = client.get(card_url(version), query)
            assert response.status_code == 302, f"{label} {query}: {response.status_code}"
            assert response["Location"].startswith(f"{login}?next="), f"{label} {query}: {response['Location']}"
            assert b"3.500" not in response.content
    assert logged_in(card_reader()).get(card_url(version), {"format": "md"}).status_code == 200
