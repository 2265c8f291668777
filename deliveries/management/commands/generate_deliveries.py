from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from deliveries.choices import ImportSource
from deliveries.presenters import import_summary_lines
from deliveries.services import deliveries_import
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Generate a synthetic delivery history in the bundled schema; with --tenant, import it too."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=30000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--output", type=Path, default=None, help="default: var/synthetic-<rows>-<seed>.csv.gz")
        parser.add_argument("--tenant", default=None, help="import the generated file for this tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rows"] <= 0:
            raise CommandError("--rows: must be a positive number")
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        default_output = settings.VAR_DIR / f"synthetic-{options['rows']}-{options['seed']}.csv.gz"
        output = Path(options["output"]) if options["output"] else default_output
        write_synthetic_file(output, SyntheticConfig(rows=options["rows"], seed=options["seed"]))
        self.stdout.write(f"Wrote {options['rows']} synthetic deliveries to {output}")
        if tenant is None:
            return
        with tqdm(desc="reading", unit=" rows", file=self.stderr) as progress:
            outcome = deliveries_import(
                tenant=tenant,
                path=output,
                source=ImportSource.SYNTHETIC,
                created_by="manage.py generate_deliveries",
                progress=progress.update,
            )
        for line in import_summary_lines(outcome, show_rejected=5):
            self.stdout.write(line)
