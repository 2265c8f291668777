from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.artifacts import ArtifactError
from registry.management.version_argument import eta_version_for_command
from registry.training import model_version_reproduce


class Command(BaseCommand):
    help = "Retrain a version from its recorded lineage and verify the artifact checksum is identical."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="version number (with --tenant) or TENANT/NUMBER")
        parser.add_argument("--tenant", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        version = eta_version_for_command(reference=options["version"], tenant_slug=options["tenant"])
        if not version.artifact_sha256:
            raise CommandError(f"{version} has no artifact ({version.status})")
        try:
            result = model_version_reproduce(version=version, progress=lambda m: self.stderr.write(f"… {m}"))
        except ArtifactError as exc:
            raise CommandError(f"{version} cannot be reproduced: {exc}") from exc
        if not result.reproduced:
            raise CommandError(f"{version} NOT reproduced: " + "; ".join(result.differences))
        self.stdout.write(f"reproduced: {version} artifact sha256 {result.new_sha256}")
        for note in result.differences:
            self.stdout.write(f"  note: {note}")
