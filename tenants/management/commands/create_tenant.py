from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.constants import DEFAULT_TIME_ZONE
from tenants.services import api_key_create, tenant_create


class Command(BaseCommand):
    help = "Create a tenant and print its first API key (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--time-zone", default=DEFAULT_TIME_ZONE, help="IANA zone of the tenant's local times")
        parser.add_argument("--key-expires-in-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["key_expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--key-expires-in-days: must be a positive number of days")
        try:
            tenant = tenant_create(slug=options["slug"], name=options["name"], time_zone=options["time_zone"])
        except ValidationError as exc:
            raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())) from exc
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=days) if days else None
        issued = api_key_create(tenant=tenant, name="initial", expires_at=expires_at)
        self.stdout.write(f"Created tenant {tenant.slug} (time zone {tenant.time_zone}).")
        self.stdout.write(f"API key (shown once): {issued.raw_key}")
