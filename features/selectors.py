"""Reads for the feature store that are more than one queryset line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import BigIntegerField, Func, Q
from django.utils import timezone

from core.delivery.plausibility import DELIVERY_MINUTES_RANGE
from core.features import Entity, EntityKey
from deliveries.models import Delivery
from deliveries.selectors import plausible_q
from features.models import FeatureSet
from tenants.models import Tenant

COMPLETIONS_FRAME_COLUMNS = ["courier_id", "ordered_at", "delivery_minutes"]


class _EpochMicroseconds(Func):
    """A datetime column as whole microseconds since the Unix epoch.

    Read as integers because turning thousands of timestamps into Python datetimes costs more than the
    rest of the query; microseconds are what the column holds, so nothing is rounded.
    """

    output_field = BigIntegerField()
    # EXTRACT returns an exact numeric on PostgreSQL 14+ (Django 5.2's minimum).
    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        # Django keeps UTC datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text. julianday() is a float of days,
        # some microseconds off once made seconds: ROUND gives back the whole seconds of the text's first 19
        # characters, and its last six digits are the microseconds.
        template = (
            "(CAST(ROUND((julianday(substr(%(expressions)s, 1, 19)) - 2440587.5) * 86400) AS INTEGER) * 1000000"
            " + CAST(substr(%(expressions)s, 21, 6) AS INTEGER))"
        )
        sql, params = self.as_sql(compiler, connection, template=template, **extra_context)
        return sql, [*params, *params]


def entity_completions_frame(*, tenant: Tenant, entity_keys: Iterable[EntityKey]) -> pd.DataFrame:
    """Every stored delivery of the tenant that can count towards ``entity_keys``' states, in one query.

    Only the columns a state is computed from (`COMPLETIONS_FRAME_COLUMNS`, ``ordered_at`` in UTC), in the
    order `deliveries_frame` reads (oldest first, by id on ties) so that ties in completion time resolve as
    in training. Deliveries of every time are read, later ones included: they tell until when a state
    computed from them holds. Rows with implausible instants are skipped, as training skips them. Restaurant
    and city keys are prefixes of the courier id, so they are selected by prefix: that may bring in a few
    other entities' deliveries (``...RES1`` also matches ``...RES12``), which `entity_state_spans` keys
    apart exactly.
    """
    matches = Q()
    for entity_key in entity_keys:
        if entity_key.entity is Entity.COURIER:
            matches |= Q(courier_id=entity_key.key)
        else:
            matches |= Q(courier_id__startswith=entity_key.key)
    # An empty Q matches every row: no entities means no deliveries, not the whole history.
    deliveries = Delivery.objects.filter(matches) if matches else Delivery.objects.none()
    rows = list(
        deliveries.filter(plausible_q(now=timezone.now()), tenant=tenant)
        .order_by("ordered_at", "id")
        .values_list("courier_id", _EpochMicroseconds("ordered_at"), "delivery_minutes")
    )
    courier_ids, ordered_us, minutes = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {
            "courier_id": pd.Series(courier_ids, dtype=object),
            "ordered_at": pd.to_datetime(np.array(ordered_us, dtype=np.int64), unit="us", utc=True),
            "delivery_minutes": np.array(minutes, dtype=np.float64),
        },
        columns=COMPLETIONS_FRAME_COLUMNS,
    )


def feature_set_definitions(*, name: str, version: int) -> list[dict[str, object]] | None:
    """The registered definitions of one feature set version, in vector order; None if it was never registered.

    Each is {name, kind, entity, description, levels}. A version is registered by its first materialisation
    (`features.services.feature_set_register_current`), so a tenant that never materialised may lack it.
    """
    return FeatureSet.objects.filter(name=name, version=version).values_list("features", flat=True).first()


def courier_ids_changed(
    *, tenant: Tenant, delivery_id_above: int, completed_from: dt.datetime, completed_before: dt.datetime
) -> list[str]:
    """Couriers with a delivery that may change their states between two materialisations.

    Those with a delivery stored since (id above ``delivery_id_above``), and those with a delivery that may
    complete in [``completed_from``, ``completed_before``): ordered up to the longest plausible duration
    (plus a minute) before the window. Over-inclusion only costs a recomputation that gives the same state.
    """
    longest = dt.timedelta(minutes=DELIVERY_MINUTES_RANGE[1] + 1)
    changed = Q(id__gt=delivery_id_above) | Q(ordered_at__gte=completed_from - longest, ordered_at__lt=completed_before)
    return list(
        Delivery.objects.filter(changed, tenant=tenant).order_by().values_list("courier_id", flat=True).distinct()
    )
