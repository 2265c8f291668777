"""Reads for the feature store that are more than one queryset line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
from django.db.models import Q

from deliveries.models import Delivery
from deliveries.selectors import delivery_rows_frame
from predictions.ml.features import Entity, EntityKey
from tenants.models import Tenant


def entity_history_frame(
    *, tenant: Tenant, entity_keys: Iterable[EntityKey], ordered_before: dt.datetime
) -> pd.DataFrame:
    """The tenant's deliveries that can count towards ``entity_keys``' states, in `deliveries_frame` order.

    Only deliveries ordered before ``ordered_before`` (a delivery completes after it is ordered, so no
    later one can have completed by then). Restaurant and city keys are prefixes of the courier id, so
    they are selected by prefix: that may bring in a few other entities' deliveries (``...RES1`` also
    matches ``...RES12``), which `entity_states_as_of` keys apart exactly. The order, oldest first and by
    id on ties, is the one training reads, so ties in completion time resolve the same way.
    """
    matches = Q()
    for entity_key in entity_keys:
        if entity_key.entity is Entity.COURIER:
            matches |= Q(courier_id=entity_key.key)
        else:
            matches |= Q(courier_id__startswith=entity_key.key)
    # An empty Q matches every row: no entities means no deliveries, not the whole history.
    deliveries = Delivery.objects.filter(matches) if matches else Delivery.objects.none()
    queryset = deliveries.filter(tenant=tenant, ordered_at__lt=ordered_before).order_by("ordered_at", "id")
    return delivery_rows_frame(queryset)
