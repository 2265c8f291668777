from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.models import PredictionAudit
from predictions.services import prediction_replay
from registry.artifacts import ArtifactError


class Command(BaseCommand):
    help = "Recompute an audited prediction with its recorded model version and say whether it matches exactly."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("audit_id", help="the audit_id a prediction response returned")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            audit_id = uuid.UUID(options["audit_id"])
        except ValueError:
            raise CommandError(f"AUDIT_ID: {options['audit_id']!r} is not a UUID") from None
        found = (
            PredictionAudit.objects.select_related("model_version__registered_model", "tenant")
            .filter(pk=audit_id)
            .first()
        )
        if found is None:
            raise CommandError(f"AUDIT_ID: no prediction audit {audit_id}")
        try:
            result = prediction_replay(audit=found)
        except ArtifactError as error:
            raise CommandError(f"cannot load {found.model_version}: {error}") from error
        served_at = f"{found.created_at:%Y-%m-%d %H:%M:%S}"
        header = f"{found.tenant.slug} order {found.order_id} with {found.model_version} at {served_at}"
        if not result.matches:
            raise CommandError(f"MISMATCH: {header}\n  " + "\n  ".join(result.differences))
        eta = result.recomputed["predicted_eta_minutes"]
        self.stdout.write(f"match: {header}: every output identical (ETA {eta} min)")
