"""Schemathesis over the whole OpenAPI schema with a large budget: zero 5xx, zero schema violations.

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/intellilog .venv/bin/pytest -m slow \
        tests/test_schemathesis_full.py -s

Marked slow (deselected by the default run; `tests/test_schemathesis.py` is the suite's bounded version).
Every operation, the route optimiser included, gets EXAMPLES_PER_OPERATION generated valid and as many
invalid requests as a tenant with a champion, its history and one object of every kind (so detail
endpoints can also hit real ids). Each response is checked by schemathesis for: no server error, a body
that matches the documented schema for its status, and the documented content type.

The optimiser's solver is capped at SOLVE_CAP_SECONDS per request here: a generated valid problem asks
for up to 120 s of solving (and is solved inline, since the suite has no Celery broker), which would
spend the budget on the solver rather than on the API. Validation, storage and the response are real.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 150
# A valid generated problem is a real solve (capped below): fewer of them keep the run in minutes.
EXAMPLES_FOR = {("POST", "/api/v1/routes/optimize"): 60}
SOLVE_CAP_SECONDS = 1.0
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def run_operation(strategy: Any, budget: int, call: Callable[[schemathesis.Case], None]) -> None:
    """Draw up to ``budget`` cases from one operation's strategy and call each (deterministic: derandomised)."""

    @settings(
        max_examples=budget, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(case=strategy)
    def exercise(case: schemathesis.Case) -> None:
        call(case)

    exercise()


@pytest.fixture
def capped_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    from routing import services

    real_solve = services.solve

    def solve(problem: Any, *, time_limit: float, **kwargs: Any) -> Any:
        return real_solve(problem, time_limit=min(time_limit, SOLVE_CAP_SECONDS), **kwargs)

    monkeypatch.setattr(services, "solve", solve)


def test_the_whole_schema_with_a_large_budget(serving_tenant, capped_solver) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from routing.tests.factories import RoutePlanFactory
    from tenants.models import ApiKey

    client = serving_tenant.client
    ApiKey.objects.filter(tenant=client.tenant).update(rate_limit_per_minute=10_000_000)
    call_command("materialize_features", tenant=client.tenant.slug)
    RoutePlanFactory(tenant=client.tenant)
    raw = requests.get(f"{client.base_url}/api/schema?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Api-Key {client.raw_key}"}

    failures: list[str] = []
    cases: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    started = time.perf_counter()
    operations = 0

    def call(case: schemathesis.Case) -> None:
        label = f"{case.method.upper()} {case.path}"
        response = case.call(base_url=client.base_url, headers=headers, timeout=60)
        cases[label] += 1
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as error:  # schemathesis raises a group of check failures
            failures.append(f"{label} -> {response.status_code}: {str(error)[:500]}")

    for result in schema.get_all_operations():
        operation = result.ok()
        budget = EXAMPLES_FOR.get((operation.method.upper(), operation.path), EXAMPLES_PER_OPERATION)
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation.as_strategy(generation_mode=mode), budget, call)
    seconds = time.perf_counter() - started
    total = sum(cases.values())
    print(f"\nschemathesis: {total} cases over {operations} operations in {seconds:.0f} s")
    for label, count in sorted(cases.items()):
        print(f"  {count:5d}  {label}")
    print(f"  statuses: {dict(sorted(statuses.items()))}")
    assert operations >= 16
    assert all(count > 0 for count in cases.values()) and len(cases) == operations
    assert total >= operations * 50
    assert any(200 <= code < 300 for code in statuses) and any(400 <= code < 500 for code in statuses)
    assert failures == [], "\n".join(failures[:20]) + f"\n({len(failures)} failures)"
