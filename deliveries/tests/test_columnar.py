"""The columnar history reader selects, orders and values rows exactly as the object reader does."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from core.delivery.columnar import HISTORY_COLUMNS, frame_nbytes, history_frame
from core.features import build_training_features
from deliveries.columnar import _cursor_arrow, deliveries_columnar
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame
from deliveries.services import deliveries_import
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as plain Python objects (None for missing), so frames of different dtypes compare by value."""
    return frame[list(HISTORY_COLUMNS)].astype(object).where(frame[list(HISTORY_COLUMNS)].notna(), None)


def test_columnar_history_equals_the_object_reader_row_for_row_and_feature_for_feature(
    bundled_deliveries: Path,
) -> None:
    tenant = TenantFactory()
    deliveries_import(tenant=tenant, path=bundled_deliveries)
    other = TenantFactory()  # another tenant's rows must stay out
    deliveries_import(tenant=other, path=bundled_deliveries)
    cut = Delivery.objects.filter(tenant=tenant).order_by("ordered_at").values_list("ordered_at", flat=True)[20000]
    selection = {"ordered_before": cut, "id_at_most": Delivery.objects.filter(tenant=tenant).order_by("id")[30000].id}

    expected = deliveries_frame(tenant=tenant, **selection)
    columnar = deliveries_columnar(tenant=tenant, **selection)

    assert 15000 < len(columnar) == len(expected) < 20001
    pd.testing.assert_frame_equal(as_objects(columnar), as_objects(expected))
    assert columnar["ordered_at"].dtype == expected["ordered_at"].dtype
    # Compact: under 300 bytes a row, the order ids' text included.
    assert frame_nbytes(columnar) / len(columnar) < 300
    time_zone = ZoneInfo(tenant.time_zone)
    pd.testing.assert_frame_equal(
        build_training_features(columnar, time_zone=time_zone),
        build_training_features(expected, time_zone=time_zone),
        check_exact=True,
    )

    # The cursor fallback (databases without COPY) reads the same values.
    subset = Delivery.objects.filter(tenant=tenant, courier_id__startswith="BANG").order_by("ordered_at", "id")
    fallback = history_frame(_cursor_arrow(subset))
    full = deliveries_columnar(tenant=tenant)
    assert len(fallback) > 1000
    pd.testing.assert_frame_equal(
        as_objects(fallback),
        as_objects(full[full["courier_id"].astype(str).str.startswith("BANG")].reset_index(drop=True)),
    )


def test_a_tenant_without_deliveries_reads_as_an_empty_frame_with_the_columns() -> None:
    frame = deliveries_columnar(tenant=TenantFactory())

    assert len(frame) == 0
    assert list(frame.columns) == list(HISTORY_COLUMNS)
    assert str(frame["ordered_at"].dtype) == "datetime64[us, UTC]"
