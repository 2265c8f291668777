from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.delivery.plausibility import instant_problems
from registry.training import TrainingRefused, eta_model_train
from tenants.models import Tenant


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--until: expected YYYY-MM-DD, got {text!r}") from None


class Command(BaseCommand):
    help = "Train, evaluate, track (MLflow) and register a new ETA model version for a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--until", default=None, help="train on deliveries ordered up to this date (YYYY-MM-DD)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        until = _date(options["until"]) if options["until"] else None
        if until is not None:
            # The last day taken is judged like an order's time, so the cut-off stays within the history's range.
            cut_off = dt.datetime.combine(until, dt.time(), tzinfo=ZoneInfo(tenant.time_zone))
            for problem in instant_problems(ordered_at=cut_off, now=timezone.now(), is_completed=False):
                raise CommandError(f"--until: {problem.reason}")
        progress = (lambda message: self.stderr.write(f"… {message}")) if not options["json"] else None
        try:
            version = eta_model_train(tenant=tenant, until=until, created_by="manage.py train_eta", progress=progress)
        except TrainingRefused as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            payload = {
                "version": version.version,
                "status": version.status,
                "artifact_sha256": version.artifact_sha256,
                "mlflow_run_id": version.mlflow_run_id,
                "metrics": version.metrics,
            }
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"Registered {version} ({version.status}), artifact sha256 {version.artifact_sha256}")
        for name, value in version.metrics.items():
            self.stdout.write(f"  {name}: {value:.4f}" if isinstance(value, float) else f"  {name}: {value}")
