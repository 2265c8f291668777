from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from intellilog.admin import ReadOnlyAdminMixin
from routing.charts import route_plan_png
from routing.models import RoutePlan


@admin.register(RoutePlan)
class RoutePlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Route plans are records of what was asked and answered: read-only, with a picture of the routes."""

    list_display = (
        "id",
        "tenant",
        "status",
        "job_count",
        "vehicle_count",
        "vehicles_used",
        "unassigned_count",
        "is_async",
        "created_at",
        "solve_seconds",
    )
    list_filter = ("tenant", "status", "is_async")
    list_select_related = ("tenant",)
    fields = (
        "tenant",
        "status",
        "error",
        "routes_picture",
        "job_count",
        "vehicle_count",
        "time_limit_seconds",
        "is_async",
        "created_at",
        "started_at",
        "finished_at",
        "solve_seconds",
        "result_json",
        "request_json",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoutePlan]:
        queryset = super().get_queryset(request)
        # The change list needs only the headline figures, not every problem and plan in full.
        url_name = request.resolver_match.url_name if request.resolver_match else None
        if url_name == "routing_routeplan_changelist":
            return queryset.defer("request")
        return queryset

    @admin.display(description="vehicles used")
    def vehicles_used(self, plan: RoutePlan) -> int | str:
        return plan.result["vehicles_used"] if plan.result else "-"

    @admin.display(description="unassigned")
    def unassigned_count(self, plan: RoutePlan) -> int | str:
        return len(plan.result["unassigned"]) if plan.result else "-"

    @admin.display(description="routes")
    def routes_picture(self, plan: RoutePlan) -> SafeString:
        if not plan.result:
            return format_html("<em>{}</em>", f"no routes: the plan is {plan.status}")
        return format_html(
            "<img src='{}' alt='{}' style='border:1px solid #ddd'>",
            route_plan_png(plan.request, plan.result),
            f"routes of plan #{plan.pk}",
        )

    @admin.display(description="result")
    def result_json(self, plan: RoutePlan) -> SafeString:
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", json.dumps(plan.result, indent=1))

    @admin.display(description="request")
    def request_json(self, plan: RoutePlan) -> SafeString:
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", json.dumps(plan.request, indent=1))
