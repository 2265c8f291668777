"""Registry writes: version allocation, alias moves, maker-checker promotion and rollback.

Every state change writes an append-only `RegistryEvent` in the same transaction as the change itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from registry.artifacts import ArtifactError, artifact_dir_discard, artifact_read, version_artifact_dir
from registry.choices import Alias, EventKind, EvidenceSource, RequestStatus, VersionStatus
from registry.constants import APPROVE_PERMISSION, APPROVERS_GROUP
from registry.models import (
    ModelAlias,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RegistryEvent,
    ShadowEvaluation,
)
from registry.selectors import CHAMPION_MOVES, promotion_gate, rollback_target
from tenants.models import Tenant

if TYPE_CHECKING:
    from core.stats.ab_comparison import ABDecision

logger = logging.getLogger(__name__)


# What an approver needs besides the approve permission: to read what they decide on, in the admin.
_APPROVER_VIEW_CODENAMES = (
    "view_registeredmodel",
    "view_modelversion",
    "view_promotionrequest",
    "view_registryevent",
    "view_shadowevaluation",
)


def approvers_group_ensure() -> Group:
    """The group that holds the approve permission; approval is granted by membership, never per user."""
    group, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="registry",
            codename__in=("approve_promotionrequest", *_APPROVER_VIEW_CODENAMES),
        )
    )
    return group


def registered_model_get_or_create(*, tenant: Tenant, name: str) -> RegisteredModel:
    registered_model, _ = RegisteredModel.objects.get_or_create(tenant=tenant, name=name)
    return registered_model


def model_version_allocate(*, registered_model: RegisteredModel, created_by: str) -> ModelVersion:
    """Reserve the next version number as a PENDING version (max + 1 under a lock on the model row)."""
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
        latest = registered_model.versions.aggregate(latest=Max("version"))["latest"] or 0
        return ModelVersion.objects.create(
            tenant=registered_model.tenant,
            registered_model=registered_model,
            version=latest + 1,
            status=VersionStatus.PENDING,
            created_by=created_by,
        )


def model_version_mark_ready(
    *,
    version: ModelVersion,
    artifact_path: str,
    artifact_sha256: str,
    metrics: dict[str, object],
    evaluation: dict[str, object],
    lineage: dict[str, object],
    mlflow_run_id: str,
) -> ModelVersion:
    """Record a finished training run; the version becomes READY and a `registered` event is logged."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.PENDING:
            raise ValidationError({"status": f"version {locked} is {locked.status}, not pending"})
        locked.status = VersionStatus.READY
        locked.artifact_path = artifact_path
        locked.artifact_sha256 = artifact_sha256
        locked.metrics = metrics
        locked.evaluation = evaluation
        locked.lineage = lineage
        locked.mlflow_run_id = mlflow_run_id
        locked.save()
        _event(locked.registered_model, EventKind.REGISTERED, locked.created_by, to_version=locked)
    return locked


def model_version_mark_failed(*, version: ModelVersion, detail: str) -> bool:
    """Record a training run that will not finish: a PENDING version becomes FAILED with `detail`.

    A conditional UPDATE, so a version that is already READY (or was failed by the sweeper) is left as it
    is; returns whether this call changed it. Whatever the run wrote into the version's artifact directory
    is then discarded (`_failed_version_artifacts_discard`).
    """
    is_changed = (
        ModelVersion.objects.filter(pk=version.pk, status=VersionStatus.PENDING).update(
            status=VersionStatus.FAILED, status_detail=detail[:5000]
        )
        == 1
    )
    _failed_version_artifacts_discard(version)
    return is_changed


def model_versions_fail_stale(*, stale_after: dt.timedelta | None = None) -> list[ModelVersion]:
    """Mark FAILED every version still PENDING `stale_after` after it was reserved; returns those versions.

    Training marks its own version READY or FAILED, except when its process dies without running any
    Python (SIGKILL, the out-of-memory killer, a lost host): that version would stay PENDING for ever.
    `stale_after` defaults to TRAINING_STALE_AFTER_MINUTES, longer than training's hard time limit, so
    the Celery run that reserved such a version is gone. A `manage.py train_eta` run has no time limit:
    one still training past that age is failed too, and its end is then refused registration.

    One transaction: the stale rows are locked, skipping any row locked by a run that is marking itself
    READY right now, and updated only while still PENDING, so a version that just finished is never touched
    and a second run changes nothing. Their artifact directories are then discarded.
    """
    if stale_after is None:
        stale_after = dt.timedelta(minutes=settings.TRAINING_STALE_AFTER_MINUTES)
    now = timezone.now()
    detail = (
        f"training abandoned: still pending {stale_after.total_seconds() / 60:g} minutes after the version was "
        "reserved, the age past which its process counts as killed or lost (SIGKILL, out of memory, a lost host); "
        f"marked failed by the stale-training sweeper at {now:%Y-%m-%d %H:%M:%S %Z}"
    )
    with transaction.atomic():
        stale = list(
            ModelVersion.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=VersionStatus.PENDING, created_at__lt=now - stale_after)
            .select_related("tenant", "registered_model")
            .order_by("pk")
        )
        ModelVersion.objects.filter(pk__in=[version.pk for version in stale], status=VersionStatus.PENDING).update(
            status=VersionStatus.FAILED, status_detail=detail
        )
    for version in stale:
        version.status, version.status_detail = VersionStatus.FAILED, detail
        removed = _failed_version_artifacts_discard(version)
        logger.warning(
            "%s marked failed: still pending %g minutes after it was reserved (%s, by %s); artifact files removed: %s",
            version,
            stale_after.total_seconds() / 60,
            version.created_at.isoformat(),
            version.created_by,
            ", ".join(removed) or "none",
        )
    return stale


def _failed_version_artifacts_discard(version: ModelVersion) -> list[str]:
    """Remove what a failed run left in its version's artifact directory; nothing while any version uses it.

    Re-checked in the database: only a FAILED version that never recorded an artifact, and only when no
    version's recorded artifact lies in that directory, so a READY model's file can never be removed.
    """
    relative_dir = version_artifact_dir(
        tenant_slug=version.tenant.slug, model_name=version.registered_model.name, version=version.version
    )
    is_failed_unregistered = ModelVersion.objects.filter(
        pk=version.pk, status=VersionStatus.FAILED, artifact_path=""
    ).exists()
    is_directory_in_use = ModelVersion.objects.filter(artifact_path__startswith=f"{relative_dir}/").exists()
    if not is_failed_unregistered or is_directory_in_use:
        return []
    return artifact_dir_discard(relative_dir=relative_dir)


def model_version_archive(*, version: ModelVersion, actor: str, reason: str) -> ModelVersion:
    """Retire a version (the registry's soft delete): it stays on record but can no longer be promoted.

    A version an alias points at is refused: move the alias first, so serving never loses its model.
    """
    with transaction.atomic():
        registered_model = RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        aliases = list(ModelAlias.objects.filter(version=locked).values_list("alias", flat=True))
        if aliases:
            raise ValidationError({"version": f"{locked} is the {' and '.join(aliases)}; move the alias first"})
        if locked.status == VersionStatus.ARCHIVED:
            return locked
        locked.status = VersionStatus.ARCHIVED
        locked.save(update_fields=["status"])
        _event(registered_model, EventKind.ARCHIVED, actor, from_version=locked, reason=reason)
    return locked


def alias_version(*, registered_model: RegisteredModel, alias: str) -> ModelVersion | None:
    row = ModelAlias.objects.filter(registered_model=registered_model, alias=alias).select_related("version").first()
    return row.version if row else None


class ChampionArtifactRefused(ValidationError):
    """The version's artifact is missing or fails its checksum, so it may not become the champion."""


def _champion_artifact_check(version: ModelVersion) -> None:
    """Refuse `version` as champion unless its artifact is on disk with the recorded checksum.

    Serving verifies every load anyway, but a champion no worker can load leaves each freshly started worker
    with nothing of its own to serve; a missing or tampered file is cheaper to refuse here, before the alias
    moves, than to discover in production. Bit rot after the move is serving's to handle (it falls back).
    """
    try:
        artifact_read(relative_path=version.artifact_path, expected_sha256=version.artifact_sha256)
    except ArtifactError as error:
        raise ChampionArtifactRefused(
            {
                "version": f"{version} cannot become the champion: {error}. The champion is unchanged; restore "
                "the file (docs/runbooks.md, Corrupt model artifact) and try again."
            }
        ) from error


def _alias_move(*, registered_model: RegisteredModel, alias: str, version: ModelVersion) -> ModelVersion | None:
    """Point `alias` at `version`; caller holds the transaction. Returns the version it pointed at before.

    The champion alias moves only to a READY version (never an archived or failed one) whose artifact verifies
    (`ChampionArtifactRefused`), whether by approval, rollback or automatic rollback.
    """
    if alias == Alias.CHAMPION:
        # Fresh from the database: a version archived since the caller read it must not serve again.
        status = ModelVersion.objects.values_list("status", flat=True).get(pk=version.pk)
        if status != VersionStatus.READY:
            raise ValidationError({"version": f"{version} is {status}; only a READY version can be champion"})
        _champion_artifact_check(version)
    row = ModelAlias.objects.select_for_update().filter(registered_model=registered_model, alias=alias).first()
    previous = row.version if row else None
    if row is None:
        ModelAlias.objects.create(
            tenant=registered_model.tenant, registered_model=registered_model, alias=alias, version=version
        )
    else:
        row.version = version
        row.save(update_fields=["version", "updated_at"])
    return previous


def _event(
    registered_model: RegisteredModel,
    kind: str,
    actor: str,
    *,
    from_version: ModelVersion | None = None,
    to_version: ModelVersion | None = None,
    request: PromotionRequest | None = None,
    reason: str = "",
) -> RegistryEvent:
    return RegistryEvent.objects.create(
        tenant=registered_model.tenant,
        registered_model=registered_model,
        kind=kind,
        actor=actor,
        from_version=from_version,
        to_version=to_version,
        promotion_request=request,
        reason=reason,
    )


def challenger_set(*, version: ModelVersion, actor: str, reason: str) -> None:
    """Make a READY version the challenger (shadow-scored, never served)."""
    if version.status != VersionStatus.READY:
        raise ValidationError({"version": f"{version} is {version.status}; only a ready version can be challenger"})
    with transaction.atomic():
        registered_model = RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
        previous = _alias_move(registered_model=registered_model, alias=Alias.CHALLENGER, version=version)
        _event(
            registered_model, EventKind.CHALLENGER_SET, actor, from_version=previous, to_version=version, reason=reason
        )


EvidenceBuilder = Callable[..., dict[str, object]]


def promotion_request_create(
    *, version: ModelVersion, user: AbstractBaseUser, reason: str, evidence_builder: EvidenceBuilder | None = None
) -> PromotionRequest:
    """The maker's step: ask for `version` to become champion, with a reason.

    `evidence_builder(version=, champion=)` computes what the reviewer will see (`registry.evidence`);
    the admin and the demo pass it, tests of the workflow alone may leave it out.
    """
    if not reason.strip():
        raise ValidationError({"reason": "a promotion request needs a reason"})
    if version.status != VersionStatus.READY:
        raise ValidationError({"version": f"{version} is {version.status}; only a ready version can be promoted"})
    with transaction.atomic():
        registered_model = RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
        if alias_version(registered_model=registered_model, alias=Alias.CHAMPION) == version:
            raise ValidationError({"version": f"{version} is already the champion"})
        if PromotionRequest.objects.filter(version=version, status=RequestStatus.PENDING).exists():
            raise ValidationError({"version": f"{version} already has a pending promotion request"})
        champion = alias_version(registered_model=registered_model, alias=Alias.CHAMPION)
        request = PromotionRequest.objects.create(
            tenant=version.tenant,
            version=version,
            requested_by=user,
            reason=reason.strip(),
            evidence=evidence_builder(version=version, champion=champion) if evidence_builder else {},
        )
        _event(
            registered_model,
            EventKind.PROMOTION_REQUESTED,
            user.get_username(),
            to_version=version,
            request=request,
            reason=request.reason,
        )
    return request


def _check_reviewer(request: PromotionRequest, user: AbstractBaseUser) -> None:
    if not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(f"{user.get_username()} lacks the permission to approve model promotions")
    if request.requested_by_id == user.pk:
        raise PermissionDenied("maker-checker: the person who requested a promotion cannot decide it")


def _decide(request: PromotionRequest, user: AbstractBaseUser, status: str, comment: str) -> PromotionRequest:
    """Record the checker's decision on a still-pending request; the caller holds the transaction."""
    locked = PromotionRequest.objects.select_for_update().select_related("version").get(pk=request.pk)
    if locked.status != RequestStatus.PENDING:
        raise ValidationError({"status": f"request already {locked.status}"})
    locked.status = status
    locked.decided_by = user
    locked.decision_comment = comment.strip()
    locked.decided_at = timezone.now()
    locked.save()
    return locked


def promotion_request_approve(
    *, request: PromotionRequest, user: AbstractBaseUser, comment: str, override_reason: str = ""
) -> ModelVersion:
    """The checker's step: approve, which moves the champion alias; returns the new champion.

    The significance gate: unless the latest shadow A/B look at this version against the current champion
    found it significantly better (`registry.selectors.promotion_gate`), approval needs an explicit
    ``override_reason`` (empty: ValidationError on ``override_reason``). The A/B summary, and the override
    when one was needed, are written into the approval event. Significant evidence never replaces the
    checker: approval is still this person's decision. A version whose artifact is missing or fails its
    checksum is refused (`ChampionArtifactRefused`): the request stays pending and the champion stays put.
    """
    _check_reviewer(request, user)
    with transaction.atomic():
        registered_model = RegisteredModel.objects.select_for_update().get(pk=request.version.registered_model_id)
        locked = _decide(request, user, RequestStatus.APPROVED, comment)
        if locked.version.status != VersionStatus.READY:
            raise ValidationError({"version": f"{locked.version} is {locked.version.status}"})
        # Read under the model's lock: the gate is judged against the champion the alias move replaces.
        gate = promotion_gate(
            version=locked.version, champion=alias_version(registered_model=registered_model, alias=Alias.CHAMPION)
        )
        override = override_reason.strip()
        if gate.is_override_required and not override:
            raise ValidationError(
                {"override_reason": f"{gate.summary}: approving without significant evidence needs an override reason"}
            )
        actor = user.get_username()
        _event(
            registered_model,
            EventKind.PROMOTION_APPROVED,
            actor,
            to_version=locked.version,
            request=locked,
            reason=_approval_reason(locked.decision_comment, gate.summary, override, gate.is_override_required),
        )
        previous = _alias_move(registered_model=registered_model, alias=Alias.CHAMPION, version=locked.version)
        _event(
            registered_model,
            EventKind.PROMOTED,
            actor,
            from_version=previous,
            to_version=locked.version,
            request=locked,
            reason=locked.reason,
        )
    request.refresh_from_db()
    return locked.version


def _approval_reason(comment: str, ab_summary: str, override: str, is_override_required: bool) -> str:
    lines = [comment, f"A/B evidence: {ab_summary}"]
    if is_override_required:
        lines.append(f"OVERRIDE, approved without significant A/B evidence: {override}")
    elif override:
        lines.append(f"override reason given (not needed): {override}")
    return "\n".join(line for line in lines if line)


def promotion_request_reject(*, request: PromotionRequest, user: AbstractBaseUser, comment: str) -> None:
    """The checker's other answer; a rejection needs a comment saying why."""
    _check_reviewer(request, user)
    if not comment.strip():
        raise ValidationError({"comment": "say why the promotion is rejected"})
    with transaction.atomic():
        locked = _decide(request, user, RequestStatus.REJECTED, comment)
        _event(
            locked.version.registered_model,
            EventKind.PROMOTION_REJECTED,
            user.get_username(),
            to_version=locked.version,
            request=locked,
            reason=locked.decision_comment,
        )
    request.refresh_from_db()


def champion_rollback(*, registered_model: RegisteredModel, actor: str, reason: str) -> ModelVersion:
    """Restore the champion that the current one replaced when it was promoted; logged as a rollback.

    Only promotions are walked back (never a rollback undone), so rolling back repeatedly steps back
    through approved champions and can never reinstate a version without a new approval. A previous champion
    that was archived is not restored (ValidationError), nor one whose artifact is missing or fails its
    checksum (`ChampionArtifactRefused`).
    """
    if not reason.strip():
        raise ValidationError({"reason": "a rollback needs a reason"})
    with transaction.atomic():
        locked_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
        current, previous = rollback_target(registered_model=locked_model)
        if current is None or previous is None:
            raise ValidationError({"champion": "there is no previous champion to roll back to"})
        _alias_move(registered_model=locked_model, alias=Alias.CHAMPION, version=previous)
        _event(locked_model, EventKind.ROLLED_BACK, actor, from_version=current, to_version=previous, reason=reason)
    return previous


def shadow_evaluation_record(
    *,
    champion: ModelVersion,
    challenger: ModelVersion,
    decision: ABDecision,
    source: str = EvidenceSource.LIVE,
) -> ShadowEvaluation:
    """Record one look at the A/B test of `challenger` against `champion`; the look number is max + 1.

    Numbers are allocated per evidence ``source`` (live and backfilled are separate tests) under the
    registered model's row lock (backed by a unique constraint), so two evaluations running at once cannot
    both record look 3.
    """
    if champion.registered_model_id != challenger.registered_model_id:
        raise ValidationError({"challenger": f"{challenger} and {champion} are versions of different models"})
    with transaction.atomic():
        registered_model = RegisteredModel.objects.select_for_update().get(pk=champion.registered_model_id)
        looks = ShadowEvaluation.objects.filter(champion=champion, challenger=challenger, source=source)
        latest = looks.aggregate(latest=Max("look"))["latest"] or 0
        values = decision.as_dict()  # non-finite numbers as None
        return ShadowEvaluation.objects.create(
            tenant=registered_model.tenant,
            registered_model=registered_model,
            champion=champion,
            challenger=challenger,
            source=source,
            look=latest + 1,
            pairs=decision.n,
            outcome=decision.outcome,
            p_value=values["p_value"],
            boundary=decision.boundary,
            effect_minutes=values["effect_minutes"],
            champion_mae=values["champion_mae"],
            challenger_mae=values["challenger_mae"],
            decision=values,
        )


def champion_rollback_automatic(
    *, registered_model: RegisteredModel, expected_champion: ModelVersion, restore: ModelVersion, reason: str
) -> ModelVersion | None:
    """Restore `restore` as champion because `expected_champion` proved worse; None when nothing was done.

    Acts only while `expected_champion` is still the champion and `restore` is the champion its promotion
    replaced, checked under the model's lock: a second run, a concurrent run, or a run after someone
    promoted or rolled back in the meantime does nothing, and so does a `restore` archived since. Logged
    as an `automatic_rollback` event whose reason carries the statistics. `ChampionArtifactRefused`, with
    nothing changed, when `restore`'s artifact is missing or fails its checksum.
    """
    if not reason.strip():
        raise ValidationError({"reason": "an automatic rollback needs its statistics as the reason"})
    with transaction.atomic():
        locked_model = RegisteredModel.objects.select_for_update().get(pk=registered_model.pk)
        current = alias_version(registered_model=locked_model, alias=Alias.CHAMPION)
        if current is None or current.pk != expected_champion.pk:
            return None
        last_move = (
            RegistryEvent.objects.filter(registered_model=locked_model, kind__in=CHAMPION_MOVES)
            .order_by("-created_at", "-id")
            .first()
        )
        is_that_promotion = (
            last_move is not None
            and last_move.kind == EventKind.PROMOTED
            and last_move.to_version_id == current.pk
            and last_move.from_version_id == restore.pk
        )
        is_restorable = ModelVersion.objects.filter(pk=restore.pk, status=VersionStatus.READY).exists()
        if not is_that_promotion or not is_restorable:
            return None
        _alias_move(registered_model=locked_model, alias=Alias.CHAMPION, version=restore)
        _event(
            locked_model,
            EventKind.AUTOMATIC_ROLLBACK,
            "system:automatic-rollback",
            from_version=current,
            to_version=restore,
            reason=reason,
        )
    return restore
