from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from intellilog.admin import ReadOnlyAdminMixin, data_table, facts_table, minutes, raw_json_details, readable
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
        "solve_time",
    )
    list_filter = ("tenant", "status", "is_async")
    list_select_related = ("tenant",)
    fields = (
        "tenant",
        "status",
        "error",
        "routes_picture",
        "summary",
        "itinerary",
        "job_count",
        "vehicle_count",
        "time_limit_seconds",
        "is_async",
        "created_at",
        "started_at",
        "finished_at",
        "solve_time",
        "raw",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoutePlan]:
        queryset = super().get_queryset(request)
        # The change list needs only the headline figures, not every problem and plan in full.
        url_name = request.resolver_match.url_name if request.resolver_match else None
        if url_name == "routing_routeplan_changelist":
            return queryset.defer("request")
        return queryset

    @admin.display(description="solve time")
    def solve_time(self, plan: RoutePlan) -> str:
        return readable("solve_seconds", plan.solve_seconds)

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
            '<img class="il-chart" src="{}" alt="{}">',
            route_plan_png(plan.request, plan.result),
            f"routes of plan #{plan.pk}",
        )

    @admin.display(description="plan")
    def summary(self, plan: RoutePlan) -> SafeString | str:
        result = plan.result
        if not result:
            return "-"
        stats = result["stats"]
        unassigned = ", ".join(f"{item['job_id']} ({item['reason']})" for item in result["unassigned"])
        return facts_table(
            [
                ("vehicles used", result["vehicles_used"]),
                ("total distance", f"{result['total_distance']:.1f} km"),
                ("total driving and service", f"{result['total_duration']:.0f} min"),
                ("total lateness", minutes(result["total_lateness"])),
                ("unassigned", unassigned or "none"),
                ("feasible", "yes" if result["is_feasible"] else "; ".join(result["violations"]) or "no"),
                ("solver", f"{stats['backend']} ({stats['status']}) in {stats['seconds']:.1f} s"),
                ("travel times", result["travel_source"]),
            ]
        )

    @admin.display(description="itinerary")
    def itinerary(self, plan: RoutePlan) -> SafeString | str:
        if not plan.result:
            return "-"
        return data_table(
            ("vehicle", "depots", "shift used", "distance", "stops (arrival, lateness)"),
            (
                (
                    route["vehicle_id"],
                    f"{route['start_depot']} → {route['end_depot']}",
                    f"{_clock(route['start_time'])}-{_clock(route['end_time'])}",
                    f"{route['distance']:.1f} km",
                    ", ".join(
                        f"{stop['job_id']} {_clock(stop['arrival'])}"
                        + (f" (late {stop['lateness']:.0f} min)" if stop["lateness"] > 0 else "")
                        for stop in route["stops"]
                    ),
                )
                for route in plan.result["routes"]
            ),
        )

    @admin.display(description="raw")
    def raw(self, plan: RoutePlan) -> SafeString:
        return raw_json_details({"request": plan.request, "result": plan.result})


def _clock(minutes_from_midnight: float | None) -> str:
    """A time of the plan (minutes from midnight, as the request gives shifts and windows) as HH:MM."""
    if minutes_from_midnight is None:
        return "open"
    total = round(minutes_from_midnight)
    return f"{total // 60:02d}:{total % 60:02d}"
