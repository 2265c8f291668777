from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from deliveries.selectors import tenant_quality_report
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Show a tenant's data-quality report as the training gate sees it: the verdict and each contributing "
        "import batch's score. Exits with status 1 when the gate refuses the history."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        report = tenant_quality_report(tenant=tenant)
        if options["json"]:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **asdict(report)}, cls=DjangoJSONEncoder, indent=2))
        else:
            verdict = "passes" if report.verdict.passes else "REFUSED"
            self.stdout.write(f"training gate for {tenant.slug}: {verdict} ({report.verdict.reason})")
            for batch in report.batches:
                score = "no report"
                if batch.score is not None:
                    score = f"score {batch.score:.1f} / gate {batch.gate_threshold:g}"
                mark = "ok" if batch.passes_gate else "FAIL"
                self.stdout.write(
                    f"  batch #{batch.batch_id} {batch.file_name}: {batch.rows_imported} rows, {score} [{mark}]"
                )
        if not report.verdict.passes:
            raise CommandError(f"the training gate refuses {tenant.slug}'s history", returncode=1)
