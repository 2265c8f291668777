"""Registry admin: versions, the maker-checker promotion flow with its evidence page, rollback, event log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from intellilog.admin import (
    ReadOnlyAdminMixin,
    data_table,
    document_facts,
    number,
    raw_json_details,
    readable,
    record_facts,
    require_permission,
    rounded_column,
)
from intellilog.charts import png_data_uri
from registry.choices import Alias, RequestStatus, VersionStatus
from registry.constants import APPROVE_PERMISSION, ARCHIVE_PERMISSION, REQUEST_PROMOTION_PERMISSION
from registry.evidence import (
    ab_test_evidence,
    backfilled_ab_test_evidence,
    backtest_comparison,
    fairness_gap_figure,
    promotion_evidence,
)
from registry.model_card import model_card_markdown, model_version_card
from registry.models import (
    Backtest,
    ModelAlias,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RegistryEvent,
    ShadowEvaluation,
)
from registry.selectors import backtest_latest, rollback_target
from registry.services import (
    alias_version,
    champion_rollback,
    model_version_archive,
    promotion_request_approve,
    promotion_request_create,
    promotion_request_reject,
)
from registry.tasks import backtest_model_versions_task


def _validation_message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def text_form_view(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    explanation: str,
    field_label: str,
    submit_label: str,
    cancel_url: str,
    on_submit: Callable[[str], str],
    extra_field_label: str | None = None,
) -> HttpResponse:
    """A small admin page asking for one text (reason or comment), then calling a service with it.

    With ``extra_field_label`` it asks for a second, required text too (the approval's override reason,
    posted as ``override_reason``); `on_submit` reads it from the request.
    """
    if request.method == "POST":
        try:
            message = on_submit(request.POST.get("text", ""))
        except ValidationError as error:
            model_admin.message_user(request, _validation_message(error), messages.ERROR)
        except PermissionDenied as error:
            model_admin.message_user(request, str(error), messages.ERROR)
        else:
            model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(cancel_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "field_label": field_label,
        "submit_label": submit_label,
        "cancel_url": cancel_url,
        "extra_field_label": extra_field_label,
        # Refused (e.g. self-approval): the form comes back with what the person typed, not empty.
        "text": request.POST.get("text", ""),
        "override_reason": request.POST.get("override_reason", ""),
    }
    return TemplateResponse(request, "admin/registry/action_form.html", context)


class AliasInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ModelAlias
    fields = ("alias", "version", "updated_at")
    readonly_fields = fields


class EventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RegistryEvent
    fields = ("created_at", "kind", "actor", "from_version", "to_version", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "champion", "created_at")
    list_filter = ("tenant",)
    readonly_fields = ("tenant", "name", "created_at", "rollback_link")
    fields = ("tenant", "name", "description", "created_at", "rollback_link")
    inlines = [AliasInline, EventInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[RegisteredModel]:
        # The champion column reads the prefetched alias: one query for the page, not one per row.
        champion = ModelAlias.objects.filter(alias=Alias.CHAMPION).select_related("version")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("aliases", queryset=champion, to_attr="champion_aliases"))
        )

    @admin.display(description="champion")
    def champion(self, registered_model: RegisteredModel) -> str:
        aliases = registered_model.champion_aliases  # type: ignore[attr-defined]
        return f"v{aliases[0].version.version}" if aliases else "-"

    @admin.display(description="rollback")
    def rollback_link(self, registered_model: RegisteredModel) -> str:
        url = reverse("admin:registry_registeredmodel_rollback", args=[registered_model.pk])
        return format_html('<a class="button" href="{}">Roll back to the previous champion…</a>', url)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.rollback_view)
        return [path("<int:pk>/rollback/", view, name="registry_registeredmodel_rollback"), *super().get_urls()]

    def rollback_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permission(request, APPROVE_PERMISSION)
        registered_model = get_object_or_404(RegisteredModel, pk=pk)
        current, target = rollback_target(registered_model=registered_model)

        def submit(reason: str) -> str:
            restored = champion_rollback(
                registered_model=registered_model, actor=request.user.get_username(), reason=reason
            )
            return f"Rolled back: champion is v{restored.version} again (was v{current.version if current else '-'})."

        return text_form_view(
            self,
            request,
            title=f"Roll back {registered_model}",
            explanation=_rollback_explanation(current, target),
            field_label="Why roll back?",
            submit_label="Roll back now",
            cancel_url=reverse("admin:registry_registeredmodel_change", args=[pk]),
            on_submit=submit,
        )


def _rollback_explanation(current: ModelVersion | None, target: ModelVersion | None) -> str:
    """What the rollback page promises: which version it restores, or why it will refuse."""
    if current is None or target is None:
        return "There is no previous champion to roll back to: the current champion was not promoted over one."
    if target.status != VersionStatus.READY:
        return (
            f"The champion v{current.version} replaced v{target.version}, which is {target.status}: "
            "a rollback is refused. Promote a READY version instead."
        )
    return (
        f"The champion v{current.version} is replaced at once by v{target.version}, the champion it replaced "
        f"(trained {target.created_at:%Y-%m-%d %H:%M} UTC). The rollback is logged."
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "role",
        "status",
        "mae",
        "within_5",
        "coverage",
        "created_by",
        "created_at",
        "promote_link",
        "model_card_link",
    )
    list_filter = ("registered_model__tenant", "status")
    readonly_fields = (
        "registered_model",
        "version",
        "status",
        "status_detail",
        "artifact_path",
        "artifact_sha256",
        "metrics_table",
        "lineage_table",
        "raw",
        "mlflow_run_id",
        "created_by",
        "created_at",
    )
    # Named, so that the JSON fields are not shown again as dumps under their tables.
    fields = readonly_fields

    actions = ["archive"]

    @admin.display(description="metrics")
    def metrics_table(self, version: ModelVersion) -> SafeString:
        return document_facts(version.metrics)

    @admin.display(description="lineage")
    def lineage_table(self, version: ModelVersion) -> SafeString:
        return document_facts(version.lineage)

    @admin.display(description="raw")
    def raw(self, version: ModelVersion) -> SafeString:
        return raw_json_details(
            {"metrics": version.metrics, "lineage": version.lineage, "evaluation": version.evaluation}
        )

    def has_archive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ARCHIVE_PERMISSION)

    @admin.action(description="Archive selected versions (kept on record, never promoted)", permissions=["archive"])
    def archive(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            try:
                model_version_archive(version=version, actor=request.user.get_username(), reason="archived in admin")
            except ValidationError as error:
                self.message_user(request, _validation_message(error), messages.ERROR)
            else:
                self.message_user(request, f"Archived {version}.")

    @admin.display(description="MAE")
    def mae(self, version: ModelVersion) -> str:
        return f"{version.metrics['mae']:.2f}" if "mae" in version.metrics else "-"

    @admin.display(description="within 5 min")
    def within_5(self, version: ModelVersion) -> str:
        value = version.metrics.get("within_5_min")
        return f"{value:.1%}" if value is not None else "-"

    @admin.display(description="p05-p95 coverage")
    def coverage(self, version: ModelVersion) -> str:
        value = version.metrics.get("interval_coverage")
        return f"{value:.1%}" if value is not None else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        # registered_model__tenant: a version's name (its __str__) reads the tenant's slug.
        return super().get_queryset(request).select_related("registered_model__tenant").prefetch_related("aliases")

    @admin.display(description="role")
    def role(self, version: ModelVersion) -> str:
        aliases = {alias.alias for alias in version.aliases.all()}
        if Alias.CHAMPION in aliases:
            return format_html('<strong class="il-champion">{}</strong>', "champion")
        return "challenger" if Alias.CHALLENGER in aliases else "-"

    @admin.display(description="promotion")
    def promote_link(self, version: ModelVersion) -> str:
        if version.status != "ready" or any(alias.alias == Alias.CHAMPION for alias in version.aliases.all()):
            return "-"
        url = reverse("admin:registry_modelversion_request_promotion", args=[version.pk])
        return format_html('<a href="{}">Request promotion…</a>', url)

    @admin.display(description="model card")
    def model_card_link(self, version: ModelVersion) -> str:
        url = reverse("admin:registry_modelversion_model_card", args=[version.pk])
        return format_html('<a href="{}">Model card</a>', url)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.request_promotion_view)
        card = self.admin_site.admin_view(self.model_card_view)
        return [
            path("<int:pk>/request-promotion/", view, name="registry_modelversion_request_promotion"),
            path("<int:pk>/model-card/", card, name="registry_modelversion_model_card"),
            *super().get_urls(),
        ]

    def model_card_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The version's model card; ``?format=md`` downloads the same card as Markdown for a change ticket."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion.objects.select_related("tenant", "registered_model"), pk=pk)
        card = model_version_card(version=version)
        if request.GET.get("format") == "md":
            response = HttpResponse(model_card_markdown(card), content_type="text/markdown; charset=utf-8")
            file_name = f"model-card-{version.tenant.slug}-{version.registered_model.name}-v{version.version}.md"
            response["Content-Disposition"] = f'attachment; filename="{file_name}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": card.title,
            "card": card,
            "version": version,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/registry/modelversion/model_card.html", context)

    def request_promotion_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permission(request, REQUEST_PROMOTION_PERMISSION)
        version = get_object_or_404(ModelVersion, pk=pk)

        def submit(reason: str) -> str:
            created = promotion_request_create(
                version=version, user=request.user, reason=reason, evidence_builder=promotion_evidence
            )
            return f"Promotion of {version} requested (request #{created.pk}); another approver must decide it."

        return text_form_view(
            self,
            request,
            title=f"Request promotion of {version} to champion",
            explanation="A different user holding the approve permission reviews the evidence and decides.",
            field_label="Why should this version become champion?",
            submit_label="Request promotion",
            cancel_url=reverse("admin:registry_modelversion_changelist"),
            on_submit=submit,
        )


def _champion_of(promotion: PromotionRequest) -> ModelVersion | None:
    return alias_version(registered_model=promotion.version.registered_model, alias=Alias.CHAMPION)


def _current_ab_test(promotion: PromotionRequest) -> dict[str, object]:
    """The A/B evidence to show: the latest look while pending (what the gate judges), else the stored one."""
    if promotion.status != RequestStatus.PENDING:
        stored = promotion.evidence.get("ab_test")
        if stored:
            return {**stored, "is_stored": True}
    return {**ab_test_evidence(version=promotion.version, champion=_champion_of(promotion)), "is_stored": False}


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "tenant", "requested_by", "created_at", "status", "decided_by", "decided_at")
    list_filter = ("tenant", "status")
    readonly_fields = (
        "version",
        "requested_by",
        "reason",
        "created_at",
        "status",
        "decided_by",
        "decision_comment",
        "decided_at",
    )
    fields = readonly_fields

    def get_urls(self) -> list[Any]:
        approve = self.admin_site.admin_view(self.approve_view)
        reject = self.admin_site.admin_view(self.reject_view)
        return [
            path("<int:pk>/approve/", approve, name="registry_promotionrequest_approve"),
            path("<int:pk>/reject/", reject, name="registry_promotionrequest_reject"),
            path(
                "<int:pk>/backtest-champion/",
                self.admin_site.admin_view(self.backtest_champion_view),
                name="registry_promotionrequest_backtest_champion",
            ),
            *super().get_urls(),
        ]

    def _decision_view(self, request: HttpRequest, pk: int, *, approve: bool) -> HttpResponse:
        require_permission(request, APPROVE_PERMISSION)
        promotion = get_object_or_404(PromotionRequest.objects.select_related("version"), pk=pk)
        ab_test = _current_ab_test(promotion)

        def submit(comment: str) -> str:
            if approve:
                champion = promotion_request_approve(
                    request=promotion,
                    user=request.user,
                    comment=comment,
                    override_reason=request.POST.get("override_reason", ""),
                )
                return f"Approved: {champion} is now the champion."
            promotion_request_reject(request=promotion, user=request.user, comment=comment)
            return f"Rejected the promotion of {promotion.version}."

        verb = "Approve" if approve else "Reject"
        explanation = f"Requested by {promotion.requested_by}: {promotion.reason}"
        is_override_required = approve and bool(ab_test["is_override_required"])
        if approve:
            explanation += f" Shadow A/B test: {ab_test['summary']}."
        if is_override_required:
            explanation += " Approving without significant evidence needs an override reason, which is logged."
        return text_form_view(
            self,
            request,
            title=f"{verb} the promotion of {promotion.version}",
            explanation=explanation,
            field_label="Comment" + (" (required)" if not approve else ""),
            submit_label=verb,
            cancel_url=reverse("admin:registry_promotionrequest_change", args=[pk]),
            on_submit=submit,
            extra_field_label="Override reason: why approve without significant A/B evidence?"
            if is_override_required
            else None,
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        promotion = PromotionRequest.objects.select_related("version").filter(pk=object_id).first()
        if promotion is not None:
            champion = _champion_of(promotion)
            figure = fairness_gap_figure(promotion.version.evaluation)
            extra_context = {
                **(extra_context or {}),
                "ab_test": _current_ab_test(promotion),
                "fairness_chart": png_data_uri(figure) if figure is not None else None,
                "backtests": backtest_comparison(version=promotion.version, champion=champion),
                "backfilled_ab_test": backfilled_ab_test_evidence(version=promotion.version, champion=champion),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._decision_view(request, pk, approve=True)

    def backtest_champion_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: what would be computed; POST: queue the champion's backtest over the candidate's latest days."""
        require_permission(request, APPROVE_PERMISSION)
        promotion = get_object_or_404(PromotionRequest.objects.select_related("version"), pk=pk)
        page_url = reverse("admin:registry_promotionrequest_change", args=[pk])
        candidate, champion = backtest_latest(version=promotion.version), _champion_of(promotion)
        if candidate is None or champion is None:
            explanation = "Nothing to compare: this version has no backtest yet, or the tenant has no champion."
        else:
            days = f"{candidate.start_date}..{candidate.end_date}"
            explanation = f"Backtest the champion {champion} over {days}, the days of {promotion.version}'s backtest."
            if request.method == "POST":
                backtest_model_versions_task.delay(
                    [champion.pk], str(candidate.start_date), str(candidate.end_date), f"admin:{request.user}"
                )
                message = f"Backtest of the champion {champion} over {days} queued; it shows here once done."
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(page_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backtest the champion beside {promotion.version}",
            "explanation": explanation,
            "is_possible": candidate is not None and champion is not None,
            "cancel_url": page_url,
        }
        return TemplateResponse(request, "admin/registry/promotionrequest/backtest_champion.html", context)

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._decision_view(request, pk, approve=False)


@admin.register(RegistryEvent)
class RegistryEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "registered_model", "kind", "actor", "from_version", "to_version", "reason")
    list_filter = ("tenant", "kind")
    # Each model and version column prints a name that reads the tenant's slug.
    list_select_related = (
        "registered_model__tenant",
        "from_version__registered_model__tenant",
        "to_version__registered_model__tenant",
    )
    search_fields = ("actor", "reason")


@admin.register(ShadowEvaluation)
class ShadowEvaluationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every look at every shadow A/B test, read-only: the record behind the approval page's evidence."""

    list_display = (
        "created_at",
        "registered_model",
        "challenger",
        "champion",
        "look",
        "pairs",
        "outcome",
        rounded_column("p_value", "one-sided p", number),
    )
    list_filter = ("tenant", "source", "outcome")
    fields = ("facts", "decision_table", "raw")
    readonly_fields = fields

    @admin.display(description="look")
    def facts(self, evaluation: ShadowEvaluation) -> SafeString:
        names = ("registered_model", "source", "champion", "challenger", "look", "pairs", "outcome", "p_value")
        names = (*names, "boundary")
        return record_facts(evaluation, (*names, "effect_minutes", "champion_mae", "challenger_mae", "created_at"))

    @admin.display(description="decision")
    def decision_table(self, evaluation: ShadowEvaluation) -> SafeString:
        return document_facts(evaluation.decision)

    @admin.display(description="raw")
    def raw(self, evaluation: ShadowEvaluation) -> SafeString:
        return raw_json_details({"decision": evaluation.decision})


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every stored backtest, read-only: what the approval page's side-by-side table is read from."""

    list_display = ("created_at", "version", "start_date", "end_date", "rows", "mae", "created_by")
    list_filter = ("tenant",)
    list_select_related = ("version__registered_model__tenant",)  # a version's name reads its tenant's slug
    fields = ("facts", "overall_table", "days_table", "raw")
    readonly_fields = fields

    @admin.display(description="rows")
    def rows(self, backtest: Backtest) -> int:
        return int(backtest.overall["rows"])

    @admin.display(description="MAE")
    def mae(self, backtest: Backtest) -> str:
        return readable("mae", backtest.overall["mae"])

    @admin.display(description="backtest")
    def facts(self, backtest: Backtest) -> SafeString:
        return record_facts(backtest, ("version", "start_date", "end_date", "created_by", "created_at"))

    @admin.display(description="overall")
    def overall_table(self, backtest: Backtest) -> SafeString:
        return document_facts(backtest.overall)

    @admin.display(description="per day")
    def days_table(self, backtest: Backtest) -> SafeString:
        names = ("rows", "mae", "bias", "within_5_min", "interval_coverage")
        return data_table(
            ("day", *(name.replace("_", " ") for name in names), "trained on"),
            (
                (
                    day["day"],
                    *(readable(name, day.get(name)) for name in names),
                    "yes" if day.get("is_in_training") else "no",
                )
                for day in backtest.days
            ),
        )

    @admin.display(description="raw")
    def raw(self, backtest: Backtest) -> SafeString:
        return raw_json_details({"overall": backtest.overall, "days": backtest.days, "data_cut": backtest.data_cut})
