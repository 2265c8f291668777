from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.simulation import SimulationRefused, challenger_ensure, shift_parse, traffic_simulate
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Replay the tenant's recent delivery history as the last HOURS of live traffic, with outcomes, in "
        "accelerated time, running the monitoring checks and the shadow A/B evaluation at their simulated "
        "instants, so drift and accuracy reports, alerts and shadow comparisons appear in the admin. "
        "Example: simulate_traffic --tenant demo --hours 6 --shift traffic=jam"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--hours", type=float, default=6.0, help="simulated hours of traffic up to now")
        parser.add_argument(
            "--shift",
            help="inject a shift, COLUMN=LEVEL (traffic, weather, vehicle or area), e.g. traffic=jam: "
            "that level's share of orders doubles from a third of the way in",
        )
        parser.add_argument("--rate", type=float, default=10.0, help="orders a minute at the busiest hour")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--train-challenger",
            action="store_true",
            help="without a challenger, train one first (about a minute) so the shadow A/B test has a candidate",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {options['tenant']!r}")
        if options["hours"] <= 0:
            raise CommandError("--hours must be positive")
        try:
            if options["train_challenger"]:
                challenger = challenger_ensure(tenant=tenant, progress=self.stdout.write)
                self.stdout.write(f"Challenger: {challenger}")
            shift = (
                shift_parse(options["shift"], after=dt.timedelta(hours=options["hours"] / 3))
                if options["shift"]
                else None
            )
            result = traffic_simulate(
                tenant=tenant,
                hours=options["hours"],
                shift=shift,
                rate_per_minute=options["rate"],
                seed=options["seed"],
                progress=self.stdout.write,
            )
        except SimulationRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Simulated {result.start:%Y-%m-%d %H:%M}-{result.end:%H:%M} UTC: {result.orders} orders "
            f"({result.shifted_orders} shifted), {result.outcomes} outcomes, {result.shadow_predictions} shadow "
            f"predictions; {result.checks} checks wrote {len(result.drift_reports)} drift and "
            f"{len(result.accuracy_reports)} accuracy reports, {len(result.shadow_evaluations)} shadow A/B looks, "
            f"{len(result.alerts)} new alerts."
        )
        if result.errors:
            self.stderr.write(f"Checks that failed (see the log): {', '.join(sorted(set(result.errors)))}")
        self.stdout.write("See admin -> Monitoring (drift, accuracy, alerts) and Registry (shadow evaluations).")
