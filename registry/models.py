"""The model registry: registered models, their versions, aliases, promotion requests and the event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from intellilog.append_only import AppendOnlyModel
from registry.choices import Alias, EventKind, EvidenceSource, RequestStatus, ShadowOutcome, VersionStatus
from tenants.models import TenantOwned


class RegisteredModel(TenantOwned):
    """A named model of one tenant (e.g. "eta") whose versions compete for the champion alias."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="registered_model_unique_name")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"


class ModelVersion(TenantOwned):
    """One trained version: its artifact (location + sha256), metrics, evaluation and full lineage.

    Numbers are allocated per registered model as max + 1 under a row lock on the registered model, and
    a unique constraint backs that up. A version is written PENDING before training and then READY or
    FAILED, so a crash mid-training never leaves a half-registered READY version.
    """

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.PENDING)
    status_detail = models.TextField(blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="evaluation-window metrics")
    evaluation = models.JSONField(default=dict, blank=True, help_text="full evaluation incl. fairness report")
    lineage = models.JSONField(default=dict, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["registered_model", "-version"]
        permissions = [("archive_modelversion", "Can archive model versions (retire them from promotion)")]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "version"], name="model_version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.registered_model} v{self.version}"


class ModelAlias(TenantOwned):
    """Points an alias (champion/challenger) of a registered model at one version.

    One row per (model, alias), changed only inside a transaction holding its lock, so there is never
    zero or two champions.
    """

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=16, choices=Alias.choices)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registered_model", "alias"], name="model_alias_unique")]
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return f"{self.registered_model}@{self.alias} -> v{self.version.version}"


class PromotionRequest(TenantOwned, AppendOnlyModel):
    """A maker's request to make a READY version the champion, decided once by a different checker.

    Append-only once decided: the decision is the row's one settlement, and no request is ever deleted.
    """

    append_only_mutable_while = ("status", RequestStatus.PENDING.value)

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    # What the reviewer sees, computed once when the request is made (metrics of this version and of the
    # champion on the same evaluation window, fairness report, plots), so the decision is made on a record.
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decision_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_promotionrequest", "Can approve or reject model promotion requests")]
        constraints = [
            models.UniqueConstraint(
                fields=["version"],
                condition=models.Q(status="pending"),
                name="promotion_request_one_pending_per_version",
            )
        ]

    def __str__(self) -> str:
        return f"promote {self.version} ({self.get_status_display()})"


class RegistryEvent(TenantOwned, AppendOnlyModel):
    """Append-only log of everything that happened to a registered model: who, when, from, to, why."""

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    actor = models.CharField(max_length=150)
    from_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    promotion_request = models.ForeignKey(
        PromotionRequest, on_delete=models.PROTECT, related_name="events", null=True, blank=True
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor}"


class ShadowEvaluation(TenantOwned, AppendOnlyModel):
    """One look at the shadow A/B test of a challenger against the champion, on the same live orders.

    Written by the periodic evaluation each time new paired outcomes arrived; never updated, so the record
    shows every look and what it said. ``look`` numbers the looks of one (champion, challenger) pair from 1.
    The decision rule (paired one-sided Wilcoxon on absolute errors, minimum sample, minimum improvement,
    O'Brien-Fleming alpha spending over the looks) is `core.stats.ab_comparison`; ``decision`` keeps its
    full result, with the reasons in words and the settings the test ran under.

    ``source`` keeps the two kinds of evidence apart: live looks pair served predictions with their outcomes;
    backfilled looks pair both versions' scores of stored history (`backfill_predictions`). Each source is
    its own sequential test with its own look numbers, and the promotion gate reads live looks only.
    """

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="shadow_evaluations")
    source = models.CharField(max_length=16, choices=EvidenceSource.choices, default=EvidenceSource.LIVE)
    champion = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    challenger = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    look = models.PositiveIntegerField()
    pairs = models.PositiveIntegerField(help_text="orders with both a served and a shadow prediction and an outcome")
    outcome = models.CharField(max_length=20, choices=ShadowOutcome.choices)
    p_value = models.FloatField(null=True, blank=True, help_text="one-sided, challenger better")
    boundary = models.FloatField(help_text="the p-value this look had to beat (alpha spending)")
    effect_minutes = models.FloatField(
        null=True, blank=True, help_text="Hodges-Lehmann improvement per order, champion minus challenger error"
    )
    champion_mae = models.FloatField(null=True, blank=True)
    challenger_mae = models.FloatField(null=True, blank=True)
    decision = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["champion", "challenger", "source", "look"], name="shadow_evaluation_unique_source_look"
            )
        ]

    def __str__(self) -> str:
        source = "" if self.source == EvidenceSource.LIVE else f" ({self.get_source_display().lower()})"
        return f"v{self.challenger.version} vs v{self.champion.version}{source}, look {self.look}: {self.summary}"

    @property
    def is_significant(self) -> bool:
        """The challenger was shown better at this look (significant and at least the minimum improvement)."""
        return self.outcome == ShadowOutcome.CHALLENGER_BETTER

    @property
    def summary(self) -> str:
        """One line for the approval page and the event log, e.g. "challenger significantly better (p=…)"."""
        p_value = "-" if self.p_value is None else f"{self.p_value:.3g}"
        effect = "-" if self.effect_minutes is None else f"{self.effect_minutes:+.2f} min per order"
        figures = f"p={p_value} vs boundary {self.boundary:.3g}, n={self.pairs}, effect {effect}, look {self.look}"
        if self.is_significant:
            return f"challenger significantly better ({figures})"
        reasons = self.decision.get("reasons") or [self.get_outcome_display()]
        return f"no significant evidence ({figures}; {reasons[-1]})"


class Backtest(TenantOwned, AppendOnlyModel):
    """A version replayed over stored history, day by day, as if it had served then (`backtest_model_version`).

    Features are point-in-time (each delivery's history features count only deliveries completed before it
    was ordered), so a day's figures cannot see later days. ``days`` holds one entry per local day with
    deliveries (`core.backtest.BacktestResult.days_as_list`, plus ``is_in_training`` for days the version
    was trained on), ``overall`` the whole range, and ``data_cut`` the selection replayed (ordered before,
    delivery id at most, plausible at), so the record says exactly which rows it judged. The approval page
    shows a candidate's backtest beside the champion's on the same days.
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="backtests")
    start_date = models.DateField(help_text="first local day replayed")
    end_date = models.DateField(help_text="last local day replayed")
    days = models.JSONField()
    overall = models.JSONField()
    data_cut = models.JSONField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "start_date", "end_date"], name="backtest_version_range_idx")]

    def __str__(self) -> str:
        return f"backtest of {self.version} {self.start_date}..{self.end_date}"
