from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.services import BatchInputError, NoChampionServing, predictions_score_file
from registry.artifacts import ArtifactError
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Score a CSV of orders (the deliveries schema; delivery_minutes and pickup_time may be empty) with the "
        "tenant's champion, writing one row per order: ETA, quantiles, confidence, OOD flag (and reasons)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path, help="CSV or gzip-compressed CSV of orders")
        parser.add_argument("output", type=Path, help="CSV to write (replaced atomically)")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--explain", action="store_true", help="add each row's top TreeSHAP reasons")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        if not options["input"].is_file():
            raise CommandError(f"INPUT: {options['input']} is not a file")
        try:
            scoring = predictions_score_file(
                tenant=tenant,
                input_path=options["input"],
                output_path=options["output"],
                created_by="manage.py predict_batch",
                explain=options["explain"],
                progress=lambda message: self.stderr.write(f"… {message}"),
            )
        except (BatchInputError, NoChampionServing, ArtifactError) as error:
            raise CommandError(str(error)) from error
        run = scoring.run
        seconds = sum(scoring.timings.values())
        self.stdout.write(
            f"scored {run.rows} orders with {run.model_version} in {seconds:.2f} s "
            f"({run.rows / seconds:,.0f} rows/s) -> {run.output_name} (sha256 {run.output_sha256[:12]}…)"
        )
