from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.live.checks import monitoring_checks_run
from monitoring.models import AccuracyReport, DriftReport
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Run a tenant's monitoring checks now, as the beat task does: drift and realized accuracy of its champion "
        "and challenger, and live data quality; reports and alerts are stored as from the schedule. Exits with "
        "status 1 when a check failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--json", action="store_true", help="print the run as one JSON object")
        parser.add_argument(
            "--at",
            help="check the windows ending at this ISO 8601 instant with a UTC offset (default: now); a rerun for "
            "the same minute finds the stored reports",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        run = monitoring_checks_run(tenant=tenant, now=self._instant(options["at"]))
        if options["json"]:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **asdict(run)}, indent=2))
        else:
            self._print_summary(tenant, run.drift_reports, run.accuracy_reports, run.quality_score)
        if run.errors:
            raise CommandError(f"checks failed: {', '.join(run.errors)} (the log has the tracebacks)", returncode=1)

    @staticmethod
    def _instant(text: str | None) -> dt.datetime | None:
        if text is None:
            return None
        try:
            instant = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(f"--at: {text!r} is not an ISO 8601 instant (e.g. 2026-12-06T10:00+00:00)") from None
        if instant.tzinfo is None:
            raise CommandError(f"--at: {text!r} has no UTC offset (e.g. 2026-12-06T10:00+00:00)")
        return instant

    def _print_summary(
        self, tenant: Tenant, drift_ids: list[int], accuracy_ids: list[int], quality_score: float | None
    ) -> None:
        self.stdout.write(f"monitoring checks of {tenant.slug}")
        for drift in DriftReport.objects.filter(pk__in=drift_ids).select_related("model_version"):
            drifted = ", ".join(drift.drifted_features) or "none"
            self.stdout.write(
                f"  drift    {drift.model_version}: {drift.status}, severity {drift.severity}, "
                f"{drift.n_current} predictions, drifted: {drifted}"
            )
        for accuracy in AccuracyReport.objects.filter(pk__in=accuracy_ids).select_related("model_version"):
            mae = "-" if accuracy.mae is None else f"{accuracy.mae:.2f} min"
            self.stdout.write(
                f"  accuracy {accuracy.model_version}: {accuracy.status}, {accuracy.outcomes} outcomes, MAE {mae}, "
                f"{'DEGRADED' if accuracy.is_degraded else 'not degraded'}"
            )
        if not drift_ids and not accuracy_ids:
            self.stdout.write("  no serving version (no champion or challenger): drift and accuracy not checked")
        score = "-" if quality_score is None else f"{quality_score:.1f}"
        self.stdout.write(f"  live data quality: {score}")
