from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.artifacts import ArtifactError
from registry.backtest import ReplayRangeError, model_versions_backtest
from registry.management.version_argument import day_for_command, eta_version_for_command
from registry.models import Backtest
from registry.selectors import eta_champion

COLUMNS = ("rows", "mae", "bias", "within_5_min", "interval_coverage")


class Command(BaseCommand):
    help = "Replay stored history day by day as if a version had served then; print and store the metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="version number (with --tenant) or TENANT/NUMBER")
        parser.add_argument("--tenant", default=None)
        parser.add_argument("--from", dest="start", required=True, help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="last local day, YYYY-MM-DD")
        parser.add_argument(
            "--with-champion", action="store_true", help="backtest the tenant's champion on the same days too"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = day_for_command(options["start"]), day_for_command(options["end"])
        version = eta_version_for_command(reference=options["version"], tenant_slug=options["tenant"])
        versions = [version]
        if options["with_champion"]:
            champion = eta_champion(tenant=version.tenant)
            if champion is None:
                raise CommandError(f"--with-champion: {version.tenant.slug} has no champion")
            if champion != version:
                versions.append(champion)
        created_by = f"manage.py backtest_model_version {options['version']}"
        try:
            backtests = model_versions_backtest(versions=versions, start=start, end=end, created_by=created_by)
        except (ReplayRangeError, ArtifactError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps([_as_dict(backtest) for backtest in backtests]))
            return
        for backtest in backtests:
            self._print(backtest)

    def _print(self, backtest: Backtest) -> None:
        self.stdout.write(f"{backtest.version} backtest {backtest.start_date}..{backtest.end_date} (#{backtest.pk}):")
        self.stdout.write("  " + "day".ljust(12) + "".join(name.rjust(18) for name in COLUMNS))
        for day in backtest.days:
            note = "  (in training)" if day["is_in_training"] else ""
            self.stdout.write("  " + str(day["day"]).ljust(12) + _cells(day) + note)
        self.stdout.write("  " + "overall".ljust(12) + _cells(backtest.overall))


def _cells(metrics: dict[str, Any]) -> str:
    return "".join((str(metrics[name]) if name == "rows" else f"{metrics[name]:.4f}").rjust(18) for name in COLUMNS)


def _as_dict(backtest: Backtest) -> dict[str, object]:
    return {
        "id": backtest.pk,
        "version": str(backtest.version),
        "from": backtest.start_date.isoformat(),
        "to": backtest.end_date.isoformat(),
        "days": backtest.days,
        "overall": backtest.overall,
        "data_cut": backtest.data_cut,
    }
