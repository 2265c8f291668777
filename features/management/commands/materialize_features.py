from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.delivery.plausibility import instant_problems
from features.online_store import OnlineStoreUnavailable
from features.services import features_materialize
from tenants.models import Tenant


def _as_of(text: str, time_zone: ZoneInfo) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of: expected an ISO 8601 date or date-time, got {text!r}") from None
    # Tenants' delivery times are local, so a time without an offset is read in the tenant's zone.
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=time_zone)
    # States are taken as of an order's time: the same range applies.
    for problem in instant_problems(ordered_at=moment, now=timezone.now(), is_completed=False):
        raise CommandError(f"--as-of: {problem.reason}")
    return moment


class Command(BaseCommand):
    help = "Compute a tenant's courier, restaurant and city states from its deliveries and write them to Redis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument(
            "--as-of",
            default=None,
            help="count deliveries completed before this ISO time (default now; no offset = tenant's time zone)",
        )
        parser.add_argument(
            "--full", action="store_true", help="recompute every entity, not only those changed since the last run"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        as_of = _as_of(options["as_of"], ZoneInfo(tenant.time_zone)) if options["as_of"] else None
        try:
            result = features_materialize(tenant=tenant, as_of=as_of, full=options["full"])
        except OnlineStoreUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Materialised {result.entities_written} entity states"
            f"{' (those changed since the last run)' if result.is_incremental else ''} of {result.feature_set} "
            f"for tenant {tenant.slug} as of {result.as_of.isoformat()} from {result.deliveries_read} deliveries "
            f"(TTL {result.feature_set.ttl_seconds} s)"
        )
        if result.skipped.count:
            self.stderr.write(result.skipped.describe(tenant))
