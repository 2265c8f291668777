"""Registry reads shared by commands, admin and API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from registry.choices import Alias, EventKind, EvidenceSource, VersionStatus
from registry.constants import ETA_MODEL_NAME
from registry.models import Backtest, ModelAlias, ModelVersion, RegisteredModel, RegistryEvent, ShadowEvaluation
from tenants.models import Tenant

# Events that move the champion alias; the latest one tells whether the champion came from a promotion.
CHAMPION_MOVES = (EventKind.PROMOTED, EventKind.ROLLED_BACK, EventKind.AUTOMATIC_ROLLBACK)


def eta_champion(*, tenant: Tenant) -> ModelVersion | None:
    """The tenant's serving ETA version (the `champion` alias), if any."""
    alias = (
        ModelAlias.objects.filter(tenant=tenant, registered_model__name=ETA_MODEL_NAME, alias=Alias.CHAMPION)
        .select_related("version")
        .first()
    )
    return alias.version if alias else None


def rollback_target(*, registered_model: RegisteredModel) -> tuple[ModelVersion | None, ModelVersion | None]:
    """(current champion, the version a rollback would restore): the champion the current one replaced.

    The target is None when there is no champion or it was not promoted over another; it is returned even
    when archived, so the rollback page can say why it refuses.
    """
    row = ModelAlias.objects.filter(registered_model=registered_model, alias=Alias.CHAMPION).select_related("version")
    current = row.first()
    if current is None:
        return None, None
    last_move = (
        RegistryEvent.objects.filter(
            registered_model=registered_model, kind=EventKind.PROMOTED, to_version=current.version
        )
        .select_related("from_version")
        .first()
    )
    return current.version, last_move.from_version if last_move else None


def eta_previous_champions(*, champion: ModelVersion) -> list[ModelVersion]:
    """The champions before `champion`, most recent first: what successive rollbacks would restore.

    Follows promotions back, as `registry.services.champion_rollback` does: the version `champion` replaced
    when it was (last) promoted, the version that one replaced, and so on, each version once. A version that
    only held the alias through a rollback is not on that path. Archived versions are skipped (retired, never
    to serve again), but the walk goes on past them. Two queries, whatever the history's length.
    """
    replaced: dict[int, int] = {}
    promotions = (
        RegistryEvent.objects.filter(
            registered_model_id=champion.registered_model_id, kind=EventKind.PROMOTED, from_version__isnull=False
        )
        .order_by("-created_at", "-id")
        .values_list("to_version_id", "from_version_id")
    )
    for to_version_id, from_version_id in promotions:
        replaced.setdefault(to_version_id, from_version_id)  # the latest promotion of each version counts
    chain: list[int] = []
    current = champion.pk
    while (previous := replaced.get(current)) is not None and previous != champion.pk and previous not in chain:
        chain.append(previous)
        current = previous
    versions = ModelVersion.objects.filter(pk__in=chain, status=VersionStatus.READY).select_related("registered_model")
    by_pk = {version.pk: version for version in versions}
    return [by_pk[pk] for pk in chain if pk in by_pk]


def eta_challenger(*, tenant: Tenant) -> ModelVersion | None:
    """The tenant's shadow-scored ETA version (the `challenger` alias), unless it is also the champion.

    Promoting the challenger leaves the alias on it; a version never competes with itself, so that
    counts as no challenger until the next one is set.
    """
    aliases = {
        row.alias: row.version
        for row in ModelAlias.objects.filter(tenant=tenant, registered_model__name=ETA_MODEL_NAME).select_related(
            "version"
        )
    }
    challenger, champion = aliases.get(Alias.CHALLENGER), aliases.get(Alias.CHAMPION)
    if challenger is None or champion is None or challenger.pk == champion.pk:
        return None
    return challenger


def shadow_evaluation_latest(
    *, champion: ModelVersion, challenger: ModelVersion, source: str = EvidenceSource.LIVE
) -> ShadowEvaluation | None:
    """The most recent look at the A/B test of `challenger` against `champion` on one evidence source, if any."""
    return (
        ShadowEvaluation.objects.filter(champion=champion, challenger=challenger, source=source)
        .select_related("champion", "challenger")
        .order_by("-look")
        .first()
    )


def backtest_latest(
    *, version: ModelVersion, start: dt.date | None = None, end: dt.date | None = None
) -> Backtest | None:
    """The version's most recent backtest, or its most recent one over exactly ``start``..``end``."""
    backtests = Backtest.objects.filter(version=version)
    if start is not None and end is not None:
        backtests = backtests.filter(start_date=start, end_date=end)
    return backtests.order_by("-created_at", "-id").first()


@dataclass(frozen=True)
class PromotionGate:
    """What the A/B evidence says about promoting `version` over `champion`, and whether an override is needed.

    An override reason is required unless the latest look at this exact pair found the challenger
    significantly better. A first champion has nothing to be compared with: no A/B test applies to it.
    """

    version: ModelVersion
    champion: ModelVersion | None
    evaluation: ShadowEvaluation | None
    summary: str

    @property
    def is_significant(self) -> bool:
        return self.evaluation is not None and self.evaluation.is_significant

    @property
    def is_override_required(self) -> bool:
        return self.champion is not None and not self.is_significant


def promotion_gate(*, version: ModelVersion, champion: ModelVersion | None) -> PromotionGate:
    """The significance gate for making `version` the champion in place of `champion` (None: no champion)."""
    if champion is None:
        summary = "first champion: there is no champion to compare with, so no A/B test applies"
        return PromotionGate(version=version, champion=None, evaluation=None, summary=summary)
    evaluation = shadow_evaluation_latest(champion=champion, challenger=version)
    if evaluation is None:
        summary = (
            f"no significant evidence (no shadow A/B evaluation of v{version.version} against the champion "
            f"v{champion.version} yet)"
        )
    else:
        summary = evaluation.summary
    return PromotionGate(version=version, champion=champion, evaluation=evaluation, summary=summary)


def champion_promotion_watched(*, registered_model: RegisteredModel) -> RegistryEvent | None:
    """The promotion that made the current champion, if the champion's last move was that promotion.

    None when the last move of the champion alias was a rollback (manual or automatic), or a promotion with
    no previous champion: then there is no "previous champion" the current one must prove itself against,
    which also keeps an automatic rollback from stepping back a second time.
    """
    last_move = (
        RegistryEvent.objects.filter(registered_model=registered_model, kind__in=CHAMPION_MOVES)
        .select_related("from_version", "to_version")
        .order_by("-created_at", "-id")
        .first()
    )
    if last_move is None or last_move.kind != EventKind.PROMOTED or last_move.from_version is None:
        return None
    champion = ModelAlias.objects.filter(registered_model=registered_model, alias=Alias.CHAMPION).first()
    if champion is None or champion.version_id != last_move.to_version_id:
        return None
    return last_move


def tenants_with_alias(alias: Alias) -> list[Tenant]:
    """Active tenants whose ETA model has `alias`.

    With a champion: the ones a serving worker must be able to load and monitoring checks; with a
    challenger: the A/B evaluation's candidates.
    """
    tenant_ids = ModelAlias.objects.filter(registered_model__name=ETA_MODEL_NAME, alias=alias).values("tenant_id")
    return list(Tenant.objects.filter(pk__in=tenant_ids, is_active=True))
