"""Every admin page after a simulated run shows tables with units: no unrounded float, no raw JSON on show."""

from __future__ import annotations

import pytest
from django.test import Client

from features.services import feature_set_register_current
from monitoring.tests.factories import AlertChannelFactory
from registry.evidence import promotion_evidence
from registry.services import promotion_request_create
from registry.tests.factories import UserFactory
from routing.services import route_plan_create, route_plan_solve
from routing.tests.factories import problem_payload
from tests.admin_pages import admin_walk, page_problems

pytestmark = pytest.mark.django_db

# Pages whose long decimals are the data itself, not a rounding left undone.
EXEMPT = {
    "deliveries.delivery change": "coordinates, to the 5-6 decimals (about 1 m) they are stored with",
    "axes.accesslog change": "django-axes' own title, which prints the login instant with microseconds",
}


@pytest.fixture
def alert_channel():  # type: ignore[no-untyped-def]
    """A channel, made before the simulated run, so its alerts are sent somewhere and notifications exist."""
    return AlertChannelFactory()


def test_every_admin_page_after_a_simulated_run_is_rounded_and_shows_no_raw_json(  # type: ignore[no-untyped-def]
    alert_channel, simulated
) -> None:
    monitored, challenger = simulated
    admin_user = UserFactory(is_superuser=True)
    promotion_request_create(
        version=challenger, user=admin_user, reason="lower MAE", evidence_builder=promotion_evidence
    )
    plan = route_plan_create(tenant=monitored.tenant, request={**problem_payload(jobs=8), "speed_kmh": 30.0})
    route_plan_solve(plan_id=plan.pk)
    feature_set_register_current()
    client = Client()
    client.force_login(admin_user)

    problems = {page: found for page, found in admin_walk(client).items() if page.rsplit(" ", 1)[0] not in EXEMPT}
    assert problems == {}, "\n".join(f"{page}: {'; '.join(found[:3])}" for page, found in problems.items())


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<td>51.478676999977324 ms</td>", ["unrounded 51.4786"]),
        ('<pre>{"p_value": 0.01}</pre>', ["JSON text", "1 <pre>"]),
        ('<details class="il-raw"><pre>{"mae": 3.14159265}</pre></details><td>3.14 min</td>', []),
        ("<script>var x = 0.123456;</script><td>12.3%</td>", []),
        ("<td>p 0.000123, 1.50 min, at 12:00:00</td>", []),
        ("<td>p 0.0001234 at 2026-12-05 18:59:00.123456+00:00</td>", ["unrounded 0.0001234", "unrounded 00.123456"]),
    ],
)
def test_the_page_check_finds_unrounded_floats_and_json_outside_the_raw_section(html, expected) -> None:  # type: ignore[no-untyped-def]
    problems = page_problems(html)
    assert len(problems) == len(expected)
    assert all(problem.startswith(prefix) for problem, prefix in zip(sorted(problems), sorted(expected), strict=True))
