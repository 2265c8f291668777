from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.delivery.schema import SchemaError
from registry.artifacts import ArtifactError
from registry.management.version_argument import eta_version_for_command
from registry.training import model_version_evaluate_file


class Command(BaseCommand):
    help = "Evaluate a model version on a deliveries file (bundled schema) without importing it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="version number (with --tenant) or TENANT/NUMBER")
        parser.add_argument("--data", required=True, type=Path)
        parser.add_argument("--tenant", default=None)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["data"])
        if not path.is_file():
            raise CommandError(f"--data: no such file {path}")
        version = eta_version_for_command(reference=options["version"], tenant_slug=options["tenant"])
        try:
            report = model_version_evaluate_file(version=version, path=path)
        except (SchemaError, ArtifactError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        self.stdout.write(f"{version} on {path.name}:")
        for name, value in report.overall.as_dict().items():
            self.stdout.write(f"  {name}: {value}")
