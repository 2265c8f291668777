"""Fixtures of the whole-product tests: a monitored tenant after a simulated run of live traffic."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

# The monitored tenant (imported history, a champion) the live-traffic tests build on.
from monitoring.simulation import Shift, traffic_simulate
from monitoring.tests.live.conftest import fresh_reference_cache, monitored  # noqa: F401
from registry.choices import Alias
from registry.models import ModelAlias
from registry.tests.factories import ModelVersionFactory


@pytest.fixture
def simulated(monitored, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    """The monitored tenant with a challenger and two hours of simulated traffic with a jam shift."""
    settings.MONITORING_CHECK_MINUTES = 10
    champion = monitored.version
    challenger = ModelVersionFactory(
        registered_model=champion.registered_model,
        artifact_path=champion.artifact_path,
        artifact_sha256=champion.artifact_sha256,
        lineage=champion.lineage,
        metrics={"mae": 2.9},
    )
    ModelAlias.objects.create(
        tenant=monitored.tenant, registered_model=champion.registered_model, alias=Alias.CHALLENGER, version=challenger
    )
    end = timezone.now().replace(hour=19, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    shift = Shift(column="traffic", level="jam", after=dt.timedelta(minutes=40))
    traffic_simulate(tenant=monitored.tenant, hours=2, shift=shift, rate_per_minute=12, seed=5, end=end)
    return monitored, challenger
