"""The significance gate: replacing a champion without significant A/B evidence needs a logged override reason."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from core.stats.ab_comparison import ABTestSettings, shadow_ab_decision
from intellilog.append_only import AppendOnlyError
from registry.choices import Alias, EventKind, RequestStatus
from registry.models import PromotionRequest, RegistryEvent, ShadowEvaluation
from registry.services import (
    alias_version,
    challenger_set,
    promotion_request_approve,
    promotion_request_create,
    shadow_evaluation_record,
)
from registry.tests.factories import ModelVersionFactory, UserFactory, approver

pytestmark = pytest.mark.django_db

SETTINGS = ABTestSettings(min_samples=100, planned_max_samples=400)


@pytest.fixture
def candidate():  # type: ignore[no-untyped-def]
    """A champion serving, and a challenger with a pending promotion request over it."""
    champion = ModelVersionFactory()
    first = promotion_request_create(version=champion, user=UserFactory(), reason="first model")
    promotion_request_approve(request=first, user=approver(), comment="ok")
    challenger = ModelVersionFactory(registered_model=champion.registered_model)
    challenger_set(version=challenger, actor="nightly", reason="retrained")
    request = promotion_request_create(version=challenger, user=approver(), reason="lower offline MAE")
    return champion, challenger, request


def look(champion, challenger, *, is_better: bool) -> ShadowEvaluation:  # type: ignore[no-untyped-def]
    """Record one look on 300 paired errors: the challenger's half the champion's, or drawn alike."""
    rng = np.random.default_rng(7)
    champion_errors = rng.gamma(2.0, 2.5, size=300)
    challenger_errors = champion_errors * 0.5 if is_better else rng.gamma(2.0, 2.5, size=300)
    decision = shadow_ab_decision(champion_errors, challenger_errors, settings=SETTINGS)
    return shadow_evaluation_record(champion=champion, challenger=challenger, decision=decision)


def approval_event(request: PromotionRequest) -> RegistryEvent:
    return RegistryEvent.objects.get(kind=EventKind.PROMOTION_APPROVED, promotion_request=request)


def test_without_evidence_approval_names_the_missing_override_and_changes_nothing(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, _, request = candidate
    events_before = RegistryEvent.objects.count()

    with pytest.raises(ValidationError) as refused:
        promotion_request_approve(request=request, user=approver(), comment="looks fine", override_reason="  ")

    assert list(refused.value.message_dict) == ["override_reason"]
    assert "no significant evidence (no shadow A/B evaluation" in refused.value.message_dict["override_reason"][0]
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and request.decided_by is None
    assert alias_version(registered_model=champion.registered_model, alias=Alias.CHAMPION) == champion
    assert RegistryEvent.objects.count() == events_before


def test_an_override_reason_lets_it_through_and_is_logged_with_the_evidence(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, request = candidate
    look(champion, challenger, is_better=False)

    promotion_request_approve(
        request=request, user=approver(), comment="ship it", override_reason="incident fix must go out today"
    )

    assert alias_version(registered_model=champion.registered_model, alias=Alias.CHAMPION) == challenger
    reason = approval_event(request).reason
    assert reason.startswith("ship it\nA/B evidence: no significant evidence (")
    assert reason.endswith("OVERRIDE, approved without significant A/B evidence: incident fix must go out today")


def test_with_significant_evidence_no_override_is_needed_but_the_checker_still_is(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, request = candidate
    evaluation = look(champion, challenger, is_better=True)
    assert evaluation.is_significant

    with pytest.raises(PermissionDenied, match="maker-checker"):
        promotion_request_approve(request=request, user=request.requested_by, comment="mine")
    with pytest.raises(PermissionDenied, match="lacks the permission"):
        promotion_request_approve(request=request, user=UserFactory(), comment="ok")
    promotion_request_approve(request=request, user=approver(), comment="evidence is clear")

    assert alias_version(registered_model=champion.registered_model, alias=Alias.CHAMPION) == challenger
    reason = approval_event(request).reason
    assert reason.startswith("evidence is clear\nA/B evidence: challenger significantly better (p=")
    assert "OVERRIDE" not in reason


def test_evidence_counts_only_for_the_champion_it_was_measured_against(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, request = candidate
    older = ModelVersionFactory(registered_model=champion.registered_model)
    look(older, challenger, is_better=True)  # better than some other version, not the serving champion

    with pytest.raises(ValidationError, match="override_reason"):
        promotion_request_approve(request=request, user=approver(), comment="ok")


def test_a_first_champion_has_nothing_to_be_compared_with() -> None:
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="first")

    promotion_request_approve(request=request, user=approver(), comment="ok")

    assert "first champion: there is no champion to compare with" in approval_event(request).reason


def test_looks_are_numbered_and_append_only(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, _ = candidate
    first, second = look(champion, challenger, is_better=False), look(champion, challenger, is_better=False)
    assert (first.look, second.look) == (1, 2)
    second.outcome = "challenger_better"
    with pytest.raises(AppendOnlyError):
        second.save()


# --- the admin pages -------------------------------------------------------------------------------------------


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_evidence_page_shows_the_ab_test_and_asks_for_an_override_when_needed(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, request = candidate
    evaluation = look(champion, challenger, is_better=False)
    checker = logged_in(approver())

    page = checker.get(reverse("admin:registry_promotionrequest_change", args=[request.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Shadow A/B test on live traffic" in html
    assert "No significant evidence (" in html and f"n={evaluation.pairs}" in html
    assert "Approving requires an explicit override reason" in html
    form = checker.get(reverse("admin:registry_promotionrequest_approve", args=[request.pk])).content.decode()
    assert 'name="override_reason"' in form

    refused = checker.post(
        reverse("admin:registry_promotionrequest_approve", args=[request.pk]), {"text": "ok"}, follow=True
    )
    assert "override_reason: no significant evidence" in refused.content.decode().lower()
    assert alias_version(registered_model=champion.registered_model, alias=Alias.CHAMPION) == champion

    approved = checker.post(
        reverse("admin:registry_promotionrequest_approve", args=[request.pk]),
        {"text": "ok", "override_reason": "the old model is being retired"},
        follow=True,
    )
    assert f"Approved: {challenger} is now the champion." in approved.content.decode()
    assert "the old model is being retired" in approval_event(request).reason
    decided = checker.get(reverse("admin:registry_promotionrequest_change", args=[request.pk])).content.decode()
    assert "Shadow A/B test on live traffic" in decided and "Approving requires" not in decided


def test_with_significant_evidence_the_page_says_so_and_asks_for_no_override(candidate) -> None:  # type: ignore[no-untyped-def]
    champion, challenger, request = candidate
    look(champion, challenger, is_better=True)
    checker = logged_in(approver())

    html = checker.get(reverse("admin:registry_promotionrequest_change", args=[request.pk])).content.decode()
    form = checker.get(reverse("admin:registry_promotionrequest_approve", args=[request.pk])).content.decode()

    assert "Challenger significantly better (p=" in html and "it still needs your approval" in html
    assert 'name="override_reason"' not in form
    looks = checker.get(reverse("admin:registry_shadowevaluation_changelist"))
    assert looks.status_code == 200 and "Challenger significantly better" in looks.content.decode()
