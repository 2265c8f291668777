from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.audit_lifecycle import ArchiveCorrupt, audit_find
from predictions.services import prediction_replay
from registry.artifacts import ArtifactError


class Command(BaseCommand):
    help = (
        "Recompute an audited prediction with its recorded model version and say whether it matches exactly. "
        "A prediction of an archived month is read from its Parquet archive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("audit_id", help="the audit_id a prediction response returned")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            audit_id = uuid.UUID(options["audit_id"])
        except ValueError:
            raise CommandError(f"AUDIT_ID: {options['audit_id']!r} is not a UUID") from None
        try:
            located = audit_find(audit_id=audit_id)
        except ArchiveCorrupt as error:
            raise CommandError(str(error)) from error
        if located is None:
            raise CommandError(f"AUDIT_ID: no prediction audit {audit_id}")
        found, archive = located
        try:
            result = prediction_replay(audit=found)
        except ArtifactError as error:
            raise CommandError(f"cannot load {found.model_version}: {error}") from error
        served_at = f"{found.created_at:%Y-%m-%d %H:%M:%S}"
        header = f"{found.tenant.slug} order {found.order_id} with {found.model_version} at {served_at}"
        if archive is not None:
            header += f" (archived in {archive.path})"
        if not result.matches:
            raise CommandError(f"MISMATCH: {header}\n  " + "\n  ".join(result.differences))
        eta = result.recomputed["predicted_eta_minutes"]
        self.stdout.write(f"match: {header}: every output identical (ETA {eta} min)")
