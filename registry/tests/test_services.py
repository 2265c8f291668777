"""Maker-checker promotion, atomic alias moves, rollback and the append-only event log."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from intellilog.append_only import AppendOnlyError
from registry.choices import Alias, EventKind, RequestStatus, VersionStatus
from registry.models import ModelAlias, ModelVersion, RegistryEvent
from registry.services import (
    ChampionArtifactRefused,
    alias_version,
    champion_rollback,
    model_version_allocate,
    model_version_archive,
    promotion_request_approve,
    promotion_request_create,
    promotion_request_reject,
)
from registry.tests.factories import ModelVersionFactory, RegisteredModelFactory, UserFactory, approver

pytestmark = pytest.mark.django_db


def promote(version, maker, checker):  # type: ignore[no-untyped-def]
    request = promotion_request_create(version=version, user=maker, reason="better MAE")
    # No shadow A/B evidence in these workflow tests: replacing a champion needs the override.
    return promotion_request_approve(
        request=request, user=checker, comment="evidence ok", override_reason="test: no shadow evidence"
    )


def test_the_requester_cannot_approve_their_own_request_even_with_the_permission() -> None:
    maker = approver()
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=maker, reason="better")

    with pytest.raises(PermissionDenied, match="maker-checker"):
        promotion_request_approve(request=request, user=maker, comment="self-approve")

    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) is None
    assert not RegistryEvent.objects.filter(kind=EventKind.PROMOTED).exists()


def test_a_checker_without_the_permission_cannot_decide() -> None:
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="better")
    with pytest.raises(PermissionDenied, match="lacks the permission"):
        promotion_request_approve(request=request, user=UserFactory(), comment="ok")
    with pytest.raises(PermissionDenied):
        promotion_request_reject(request=request, user=UserFactory(), comment="no")
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_approval_moves_the_champion_and_logs_who_when_from_to_why() -> None:
    maker, checker = UserFactory(), approver()
    first, second = ModelVersionFactory(), None
    second = ModelVersionFactory(registered_model=first.registered_model)
    promote(first, maker, checker)

    champion = promote(second, maker, checker)

    assert champion == second
    assert alias_version(registered_model=first.registered_model, alias=Alias.CHAMPION) == second
    moved = RegistryEvent.objects.filter(kind=EventKind.PROMOTED).first()
    assert (moved.actor, moved.from_version, moved.to_version, moved.reason) == (
        checker.username,
        first,
        second,
        "better MAE",
    )
    kinds = list(RegistryEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["promotion_requested", "promotion_approved", "promoted"] * 2


def test_rejection_needs_a_comment_and_leaves_the_champion() -> None:
    maker, checker = UserFactory(), approver()
    current = ModelVersionFactory()
    promote(current, maker, checker)
    candidate = ModelVersionFactory(registered_model=current.registered_model)
    request = promotion_request_create(version=candidate, user=maker, reason="try")

    with pytest.raises(ValidationError, match="say why"):
        promotion_request_reject(request=request, user=checker, comment=" ")
    promotion_request_reject(request=request, user=checker, comment="fairness gap too large")

    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED and request.decided_by == checker
    assert alias_version(registered_model=current.registered_model, alias=Alias.CHAMPION) == current
    with pytest.raises(ValidationError, match="already rejected"):
        promotion_request_approve(request=request, user=checker, comment="changed my mind")


@pytest.mark.parametrize("status", [VersionStatus.PENDING, VersionStatus.FAILED, VersionStatus.ARCHIVED])
def test_only_ready_versions_can_be_requested(status: str) -> None:
    with pytest.raises(ValidationError, match="only a ready version"):
        promotion_request_create(version=ModelVersionFactory(status=status), user=UserFactory(), reason="x")


def test_a_request_needs_a_reason_and_only_one_can_be_pending() -> None:
    version = ModelVersionFactory()
    with pytest.raises(ValidationError, match="needs a reason"):
        promotion_request_create(version=version, user=UserFactory(), reason="")
    promotion_request_create(version=version, user=UserFactory(), reason="one")
    with pytest.raises(ValidationError, match="already has a pending"):
        promotion_request_create(version=version, user=UserFactory(), reason="two")


def test_rollback_restores_the_previous_champion_and_steps_back_through_promotions() -> None:
    maker, checker = UserFactory(), approver()
    v1 = ModelVersionFactory()
    v2 = ModelVersionFactory(registered_model=v1.registered_model)
    v3 = ModelVersionFactory(registered_model=v1.registered_model)
    for version in (v1, v2, v3):
        promote(version, maker, checker)
    model = v1.registered_model

    assert champion_rollback(registered_model=model, actor="oncall", reason="MAE regression") == v2
    assert champion_rollback(registered_model=model, actor="oncall", reason="still bad") == v1
    with pytest.raises(ValidationError, match="no previous champion"):
        champion_rollback(registered_model=model, actor="oncall", reason="again")

    rollbacks = list(RegistryEvent.objects.filter(kind=EventKind.ROLLED_BACK).order_by("id"))
    assert [(e.from_version, e.to_version, e.actor) for e in rollbacks] == [(v3, v2, "oncall"), (v2, v1, "oncall")]
    assert alias_version(registered_model=model, alias=Alias.CHAMPION) == v1


def test_events_are_append_only() -> None:
    maker, checker = UserFactory(), approver()
    promote(ModelVersionFactory(), maker, checker)
    event = RegistryEvent.objects.first()
    event.reason = "rewritten history"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert RegistryEvent.objects.get(pk=event.pk).reason != "rewritten history"


def test_version_numbers_are_allocated_in_sequence() -> None:
    model = RegisteredModelFactory()
    numbers = [model_version_allocate(registered_model=model, created_by="t").version for _ in range(3)]
    assert numbers == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocation_and_promotion_never_duplicate_numbers_or_champions() -> None:
    model = RegisteredModelFactory()
    maker, checker = UserFactory(), approver()
    candidates = [ModelVersionFactory(registered_model=model, version=100 + i) for i in range(4)]
    requests = [promotion_request_create(version=v, user=maker, reason="race") for v in candidates]
    errors: list[BaseException] = []

    def allocate() -> None:
        try:
            model_version_allocate(registered_model=model, created_by="thread")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def approve(request) -> None:  # type: ignore[no-untyped-def]
        try:
            promotion_request_approve(request=request, user=checker, comment="race", override_reason="test")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    threads += [threading.Thread(target=approve, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = list(ModelVersion.objects.filter(registered_model=model).values_list("version", flat=True))
    assert sorted(numbers) == list(range(100, 110))  # 4 existing, 6 allocated as max + 1 each, no duplicate
    assert ModelAlias.objects.filter(registered_model=model, alias=Alias.CHAMPION).count() == 1
    assert RegistryEvent.objects.filter(registered_model=model, kind=EventKind.PROMOTED).count() == 4


def test_archiving_retires_a_version_but_never_the_one_serving() -> None:
    maker, checker = UserFactory(), approver()
    serving = ModelVersionFactory()
    promote(serving, maker, checker)
    old = ModelVersionFactory(registered_model=serving.registered_model)

    with pytest.raises(ValidationError, match="is the champion; move the alias first"):
        model_version_archive(version=serving, actor="ops", reason="tidy")
    archived = model_version_archive(version=old, actor="ops", reason="superseded")

    assert archived.status == VersionStatus.ARCHIVED
    assert RegistryEvent.objects.filter(kind=EventKind.ARCHIVED, from_version=old, actor="ops").exists()
    with pytest.raises(ValidationError, match="only a ready version"):
        promotion_request_create(version=archived, user=maker, reason="bring it back")


def tamper(version: ModelVersion) -> None:
    """Flip one byte of the version's artifact on disk (bit rot, a bad copy, an edit)."""
    path = Path(settings.ARTIFACT_ROOT) / version.artifact_path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_approving_a_version_whose_artifact_is_tampered_is_refused_and_the_champion_stays() -> None:
    maker, checker = UserFactory(), approver()
    current = ModelVersionFactory()
    promote(current, maker, checker)
    candidate = ModelVersionFactory(registered_model=current.registered_model)
    request = promotion_request_create(version=candidate, user=maker, reason="better MAE")
    tamper(candidate)
    events_before = RegistryEvent.objects.count()

    with pytest.raises(ChampionArtifactRefused, match=r"cannot become the champion: artifact .* fails its checksum"):
        promotion_request_approve(request=request, user=checker, comment="ok", override_reason="test")

    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and request.decided_by is None  # can be approved once fixed
    assert alias_version(registered_model=current.registered_model, alias=Alias.CHAMPION) == current
    assert RegistryEvent.objects.count() == events_before


def test_approving_a_version_whose_artifact_is_missing_is_refused() -> None:
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="first")
    (Path(settings.ARTIFACT_ROOT) / version.artifact_path).unlink()

    with pytest.raises(ChampionArtifactRefused, match="is missing"):
        promotion_request_approve(request=request, user=approver(), comment="ok")

    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) is None
    assert not RegistryEvent.objects.filter(kind__in=[EventKind.PROMOTION_APPROVED, EventKind.PROMOTED]).exists()


def test_rollback_refuses_to_restore_a_previous_champion_whose_artifact_is_tampered() -> None:
    maker, checker = UserFactory(), approver()
    v1 = ModelVersionFactory()
    v2 = ModelVersionFactory(registered_model=v1.registered_model)
    promote(v1, maker, checker)
    promote(v2, maker, checker)
    tamper(v1)

    with pytest.raises(ChampionArtifactRefused, match=f"{v1} cannot become the champion"):
        champion_rollback(registered_model=v1.registered_model, actor="oncall", reason="MAE regression")

    assert alias_version(registered_model=v1.registered_model, alias=Alias.CHAMPION) == v2
    assert not RegistryEvent.objects.filter(kind=EventKind.ROLLED_BACK).exists()
