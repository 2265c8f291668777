from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.outcomes import OutcomeFileError, outcome_file_rows, outcomes_import
from predictions.services import OutcomeConflict
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Import the actual delivery times of predicted orders from a CSV (header: order_id and delivery_minutes "
        "or delivered_at; optional picked_at, driver_age), as if each were reported through the API. One "
        "transaction; repeats are counted, bad rows and conflicting values reported by row."
    )

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
            result = outcomes_import(tenant=tenant, rows=outcome_file_rows(path))
        except (OutcomeFileError, OutcomeConflict) as error:
            raise CommandError(f"{error}; nothing was imported") from error
        self.stdout.write(
            f"{path.name}: {result.rows} rows, {result.recorded} outcomes recorded "
            f"({result.predictions_joined} predictions joined), {result.repeats} repeats, {result.rejected} rejected"
        )
        for rejection in result.rejections[: options["show_rejected"]]:
            self.stdout.write(
                f"  row {rejection.row} ({rejection.order_id or 'no order id'}): {rejection.field}: {rejection.message}"
            )
        if result.rejected > options["show_rejected"]:
            self.stdout.write(f"  ... and {result.rejected - options['show_rejected']} more rejected rows")
