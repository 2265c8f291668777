"""Registry reads that walk the event log."""

from __future__ import annotations

import pytest

from registry.selectors import eta_previous_champions
from registry.services import champion_rollback, model_version_archive
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from registry.tests.test_services import promote

pytestmark = pytest.mark.django_db


def test_previous_champions_follow_promotions_back_most_recent_first() -> None:
    maker, checker = UserFactory(), approver()
    v1 = ModelVersionFactory()
    v2, v3, v4, v5 = (ModelVersionFactory(registered_model=v1.registered_model) for _ in range(4))
    for version in (v1, v2, v3):
        promote(version, maker, checker)
    # v3 was rolled back (replaced for a reason), then v4 and v5 were promoted over v2.
    champion_rollback(registered_model=v1.registered_model, actor="oncall", reason="worse")
    promote(v4, maker, checker)
    promote(v5, maker, checker)

    assert eta_previous_champions(champion=v5) == [v4, v2, v1]
    # An archived version is skipped, and the walk goes on past it.
    model_version_archive(version=v2, actor="ops", reason="retired")
    assert eta_previous_champions(champion=v5) == [v4, v1]
    assert eta_previous_champions(champion=v1) == []
