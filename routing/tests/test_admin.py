"""The admin shows route plans read-only, with a picture of the routes on the change page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from routing.charts import route_plan_figure
from routing.models import RoutePlan
from routing.services import route_plan_solve
from routing.tests.factories import RoutePlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def solved_plan() -> RoutePlan:
    return route_plan_solve(plan_id=RoutePlanFactory().pk)


def test_change_page_shows_the_routes_picture_read_only(admin_client, solved_plan) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(reverse("admin:routing_routeplan_change", args=[solved_plan.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("data:image/png;base64,") == 1
    assert f"routes of plan #{solved_plan.pk}" in html
    assert "haversine@30kmh" in html  # the result, shown in full
    assert 'name="_save"' not in html


def test_the_routes_picture_is_a_map_of_each_vehicle_in_visit_order(admin_client, solved_plan) -> None:  # type: ignore[no-untyped-def]
    html = admin_client.get(reverse("admin:routing_routeplan_change", args=[solved_plan.pk])).content.decode()
    section = html.split("field-routes_picture", 1)[1].split("form-row", 1)[0]
    assert '<img class="il-chart" src="data:image/png;base64,' in section

    request, result = solved_plan.request, solved_plan.result
    first = result["routes"][0]
    assert first["stops"], "the factory's plan gives its first vehicle stops"
    # One stop taken out of the first route and reported unassigned, so that its marker is drawn too.
    dropped = first["stops"][-1]
    routes = [{**first, "stops": first["stops"][:-1]}, *result["routes"][1:]]
    shown = {**result, "routes": routes, "unassigned": [{"job_id": dropped["job_id"], "reason": "capacity"}]}
    depots = {depot["id"]: depot["location"] for depot in request["depots"]}
    jobs = {job["id"]: job["location"] for job in request["jobs"]}

    axes = route_plan_figure(request, shown).axes[0]

    lines = {line.get_label(): line for line in axes.get_lines()}
    for route in routes:
        visited = [depots[route["start_depot"]], *(jobs[stop["job_id"]] for stop in route["stops"])]
        visited.append(depots[route["end_depot"]])
        assert list(lines[route["vehicle_id"]].get_xdata()) == [place["lon"] for place in visited]
        assert list(lines[route["vehicle_id"]].get_ydata()) == [place["lat"] for place in visited]
    assert list(lines["unassigned"].get_xdata()) == [jobs[dropped["job_id"]]["lon"]]
    assert lines["unassigned"].get_marker() == "x" and lines["depot"].get_marker() == "s"
    assert list(lines["depot"].get_xdata()) == [place["lon"] for place in depots.values()]
    labels = {text.get_text() for text in axes.texts}
    assert set(depots) <= labels and "1" in labels  # depots by id, stops by their visit number


def test_change_page_shows_the_plan_as_tables_and_the_json_raw(admin_client, solved_plan) -> None:  # type: ignore[no-untyped-def]
    html = admin_client.get(reverse("admin:routing_routeplan_change", args=[solved_plan.pk])).content.decode()

    before, rest = html.split('<details class="il-raw">', 1)
    raw, after = rest.split("</details>", 1)
    page = before + after
    solved_plan.refresh_from_db()  # the result as stored and shown, not as the solver returned it
    result = solved_plan.result
    assert f"{result['total_distance']:.1f} km" in page and repr(result["total_distance"]) not in page
    assert repr(result["total_distance"]) in raw and "&quot;request&quot;" in raw
    first_stop = result["routes"][0]["stops"][0]
    arrival = round(first_stop["arrival"])
    assert f"{first_stop['job_id']} {arrival // 60:02d}:{arrival % 60:02d}" in page  # the itinerary in HH:MM


def test_a_queued_plan_has_no_picture_yet(admin_client) -> None:  # type: ignore[no-untyped-def]
    plan = RoutePlanFactory()

    html = admin_client.get(reverse("admin:routing_routeplan_change", args=[plan.pk])).content.decode()

    assert "data:image/png" not in html
    assert "no routes: the plan is queued" in html


def test_list_shows_headline_figures_and_nothing_can_be_deleted(admin_client, solved_plan) -> None:  # type: ignore[no-untyped-def]
    html = admin_client.get(reverse("admin:routing_routeplan_changelist")).content.decode()
    assert solved_plan.tenant.slug in html

    response = admin_client.post(reverse("admin:routing_routeplan_delete", args=[solved_plan.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert RoutePlan.objects.filter(pk=solved_plan.pk).exists()
