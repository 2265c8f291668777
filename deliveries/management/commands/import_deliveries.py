from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.delivery.schema import SchemaError
from deliveries.presenters import import_summary_lines
from deliveries.services import deliveries_import
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Import a delivery-history file (CSV or CSV.gz in the bundled schema) for a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--show-rejected", type=int, default=10, help="how many rejected rows to list")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        try:
            with tqdm(desc=f"reading {path.name}", unit=" rows", file=self.stderr) as progress:
                outcome = deliveries_import(
                    tenant=tenant, path=path, created_by="manage.py import_deliveries", progress=progress.update
                )
        except SchemaError as exc:
            raise CommandError(f"{exc}; nothing was imported") from exc
        for line in import_summary_lines(outcome, show_rejected=options["show_rejected"]):
            self.stdout.write(line)
