"""Feature sets are visible in the admin and cannot be added, changed or deleted there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from features.models import FeatureSet
from features.services import feature_set_register_current

pytestmark = pytest.mark.django_db


def test_feature_set_pages_show_the_definitions_read_only(admin_client) -> None:  # type: ignore[no-untyped-def]
    feature_set = feature_set_register_current()

    listing = admin_client.get(reverse("admin:features_featureset_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:features_featureset_change", args=[feature_set.pk])).content.decode()

    assert "eta_order_features" in listing and "order, courier, restaurant, city" in listing
    assert "<td>courier_recent_mean_minutes</td><td>numeric</td><td>courier</td>" in detail
    assert "Great-circle distance pickup to drop" in detail
    assert 'name="_save"' not in detail


def test_feature_sets_cannot_be_added_or_deleted_from_the_admin(admin_client) -> None:  # type: ignore[no-untyped-def]
    feature_set = feature_set_register_current()

    assert admin_client.get(reverse("admin:features_featureset_add")).status_code == 403
    response = admin_client.post(reverse("admin:features_featureset_delete", args=[feature_set.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert FeatureSet.objects.filter(pk=feature_set.pk).exists()
