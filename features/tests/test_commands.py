"""`materialize_features` and the Celery tasks that materialise on a schedule and fold in outcomes."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.features import entity_states_as_of
from deliveries.selectors import deliveries_frame
from deliveries.tests.factories import DeliveryFactory
from features.online_store import read_states
from features.services import store_namespace
from features.tasks import (
    features_apply_outcome_task,
    materialize_features_all_tenants_task,
    materialize_features_task,
)
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_command_materialises_as_of_a_local_time(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    as_of = dt.datetime(2022, 2, 15, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # the tenant's zone
    expected = entity_states_as_of(deliveries_frame(tenant=tenant_with_history), as_of)

    call_command("materialize_features", tenant=tenant_with_history.slug, as_of="2022-02-15T12:00", stdout=out)

    assert out.getvalue().startswith(
        f"Materialised {len(expected)} entity states of eta_order_features v1 for tenant "
        f"{tenant_with_history.slug} as of 2022-02-15T12:00:00+05:30 from "
    )
    stored = read_states(store_namespace(tenant=tenant_with_history), list(expected))
    assert {key: value.state for key, value in stored.items()} == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tenant": "no-such-tenant"}, "--tenant: no tenant with slug 'no-such-tenant'"),
        ({"as_of": "yesterday"}, "--as-of: expected an ISO 8601 date or date-time, got 'yesterday'"),
    ],
)
def test_command_refuses_bad_arguments_naming_them(arguments: dict[str, str], message: str) -> None:
    tenant = TenantFactory()
    with pytest.raises(CommandError, match=message):
        call_command("materialize_features", **{"tenant": tenant.slug, **arguments})


def test_command_reports_an_unreachable_store(settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    with pytest.raises(CommandError, match="online store write failed"):
        call_command("materialize_features", tenant=tenant_with_history.slug)


def test_beat_task_materialises_every_active_tenant(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    inactive = TenantFactory(is_active=False)
    DeliveryFactory(tenant=inactive)

    tenant_ids = materialize_features_all_tenants_task.delay().get()

    assert tenant_ids == [tenant_with_history.pk]
    history = deliveries_frame(tenant=tenant_with_history)
    expected = entity_states_as_of(history, timezone.now())
    assert len(read_states(store_namespace(tenant=tenant_with_history), list(expected))) == len(expected)
    assert (
        read_states(
            store_namespace(tenant=inactive),
            list(entity_states_as_of(deliveries_frame(tenant=inactive), timezone.now())),
        )
        == {}
    )
    schedule = django_settings.CELERY_BEAT_SCHEDULE["materialize-features"]
    assert schedule["task"] == materialize_features_all_tenants_task.name


def test_tasks_are_safe_to_run_twice(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    history = deliveries_frame(tenant=tenant)
    materialize_features_task.delay(tenant.pk).get()
    namespace = store_namespace(tenant=tenant)
    keys = list(entity_states_as_of(history, timezone.now()))
    after_first = read_states(namespace, keys)
    # Nothing changed in between: the second run has nothing to recompute and leaves the states as they were.
    assert materialize_features_task.delay(tenant.pk).get() == 0
    assert read_states(namespace, keys) == after_first
    delivery = DeliveryFactory(
        tenant=tenant,
        external_order_id="new-1",
        courier_id=str(history["courier_id"].iloc[-1]),
        ordered_at=history["ordered_at"].max().to_pydatetime() + dt.timedelta(days=1),
    )

    features_apply_outcome_task.delay(delivery.pk).get()
    features_apply_outcome_task.delay(delivery.pk).get()

    expected = entity_states_as_of(deliveries_frame(tenant=tenant), timezone.now())
    stored = read_states(store_namespace(tenant=tenant), list(expected))
    assert {key: value.state for key, value in stored.items()} == expected
