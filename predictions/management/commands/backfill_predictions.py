from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.backfill import predictions_backfill
from predictions.shadow import shadow_evaluation_look
from registry.artifacts import ArtifactError
from registry.backtest import ReplayRangeError
from registry.choices import EvidenceSource
from registry.management.version_argument import day_for_command, eta_version_for_command
from registry.selectors import eta_champion
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Score stored deliveries with a version and the champion into the backfilled shadow evidence (kept apart "
        "from live evidence), then take one look at the backfilled A/B test."
    )

    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        # Django's own --version (print Django's version) gives way: here --version names the model version.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--version", required=True, help="the challenger's version number")
        parser.add_argument("--from", dest="start", required=True, help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="last local day, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = day_for_command(options["start"]), day_for_command(options["end"])
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        version = eta_version_for_command(reference=options["version"], tenant_slug=tenant.slug)
        champion = eta_champion(tenant=tenant)
        if champion is None:
            raise CommandError(f"--version: {tenant.slug} has no champion to pair {version} with")
        if champion == version:
            raise CommandError(f"--version: {version} is the champion; backfill a challenger against it")
        try:
            results = predictions_backfill(versions=[version, champion], start=start, end=end)
        except (ReplayRangeError, ArtifactError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backfilled {results[0].scored} deliveries of {tenant.slug} ordered {start}..{end}:")
        for result, role in zip(results, ("challenger", "champion"), strict=True):
            self.stdout.write(f"  {result.version} ({role}): {result.added} new rows")
        look = shadow_evaluation_look(champion=champion, challenger=version, source=EvidenceSource.BACKFILLED)
        self.stdout.write(f"backfilled A/B (not live evidence), look {look.look}: {look.summary}")
