from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from deliveries.models import ImportBatch
from features.online_store import OnlineStoreUnavailable
from features.services import features_materialize
from predictions.choices import PredictionSource
from predictions.models import PredictionAudit
from registry.choices import Alias
from registry.constants import ETA_MODEL_NAME
from registry.evidence import promotion_evidence
from registry.services import (
    alias_version,
    approvers_group_ensure,
    promotion_request_approve,
    promotion_request_create,
    registered_model_get_or_create,
)
from registry.training import eta_model_train
from tenants.models import Tenant
from tenants.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
ADMIN_USERNAME = "admin"
DEMO_APPROVER_USERNAME = "demo-approver"


class Command(BaseCommand):
    help = (
        "Prepare the demo: an admin user, the 'demo' tenant with a fresh API key, its delivery history "
        "(the public file when present, else a synthetic one), and a trained, promoted ETA model. "
        "Safe to run again: nothing is imported or trained twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--synthetic-rows", type=int, default=30000)
        parser.add_argument("--force-synthetic", action="store_true", help="ignore the public file even if present")
        parser.add_argument(
            "--simulate-hours",
            type=float,
            default=6.0,
            help="replay this many hours of recent history as live traffic with a traffic jam shift (train a "
            "challenger first), so drift, accuracy, alerts and the shadow A/B test have data; 0: skip",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        admin = user_model.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            admin = user_model.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        else:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        admin.groups.add(approvers_group_ensure())

        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or tenant_create(slug=DEMO_SLUG, name="Demo Deliveries")
        issued = api_key_create(tenant=tenant, name="bootstrap_demo")
        self._import_history(tenant, options)
        self._train_and_promote(tenant, admin)
        self._materialize_features(tenant)
        if options["simulate_hours"] > 0:
            self._simulate_traffic(tenant, options["simulate_hours"])

        self.stdout.write("")
        self.stdout.write("IntelliLog demo is ready.")
        self.stdout.write(f"  Admin:   http://127.0.0.1:8000/admin/  user {ADMIN_USERNAME}  password {password}")
        self.stdout.write(f"  API key for tenant '{tenant.slug}' (shown once): {issued.raw_key}")
        self.stdout.write(f"  For the README's curl examples: export KEY={issued.raw_key}")

    def _simulate_traffic(self, tenant: Tenant, hours: float) -> None:
        if PredictionAudit.objects.filter(tenant=tenant, source=PredictionSource.SIMULATION).exists():
            self.stdout.write("Simulated traffic already replayed for the demo tenant.")
            return
        self.stdout.write(f"Replaying {hours:g} h of recent history as live traffic (simulate_traffic):")
        call_command(
            "simulate_traffic",
            tenant=tenant.slug,
            hours=hours,
            shift="traffic=jam",
            train_challenger=True,
            stdout=self.stdout,
            stderr=self.stderr,
        )

    def _materialize_features(self, tenant: Tenant) -> None:
        try:
            result = features_materialize(tenant=tenant)
        except OnlineStoreUnavailable as error:
            self.stdout.write(
                f"Feature store not reachable ({error}): predictions will compute features from the database."
            )
            return
        self.stdout.write(f"Materialised {result.entities_written} entity states into the online feature store.")

    def _import_history(self, tenant: Tenant, options: dict[str, Any]) -> None:
        history = settings.DELIVERY_HISTORY_PATH
        if ImportBatch.objects.filter(tenant=tenant, rows_imported__gt=0).exists():
            self.stdout.write("Delivery history already imported for the demo tenant.")
        elif history.is_file() and not options["force_synthetic"]:
            self.stdout.write(f"Importing the public delivery history from {history}")
            call_command("import_deliveries", str(history), tenant=tenant.slug, stdout=self.stdout, stderr=self.stderr)
        else:
            self.stdout.write(f"No public history at {history}: generating a synthetic one instead.")
            call_command(
                "generate_deliveries",
                rows=options["synthetic_rows"],
                seed=42,
                tenant=tenant.slug,
                stdout=self.stdout,
                stderr=self.stderr,
            )

    def _train_and_promote(self, tenant: Tenant, admin: Any) -> None:
        registered_model = registered_model_get_or_create(tenant=tenant, name=ETA_MODEL_NAME)
        champion = alias_version(registered_model=registered_model, alias=Alias.CHAMPION)
        if champion is not None:
            self.stdout.write(f"ETA model already serving: {champion} is the champion.")
            return
        version = eta_model_train(
            tenant=tenant, created_by="bootstrap_demo", progress=lambda message: self.stdout.write(f"… {message}")
        )
        self.stdout.write(f"Trained {version}: MAE {version.metrics['mae']:.2f} min on the last 7 days.")
        request = promotion_request_create(
            version=version, user=admin, reason="first model of the demo tenant", evidence_builder=promotion_evidence
        )
        approver, _ = get_user_model().objects.get_or_create(
            username=DEMO_APPROVER_USERNAME, defaults={"is_staff": True}
        )
        approver.groups.add(approvers_group_ensure())
        promotion_request_approve(
            request=request,
            user=approver,
            comment="DEMO AUTO-APPROVAL: in production a second person approves in the admin (maker-checker).",
            override_reason="demo auto-approval, no shadow evidence yet",
        )
        self.stdout.write(
            f"Promoted {version} to champion. NOTE: the demo auto-approved it as '{DEMO_APPROVER_USERNAME}'; "
            "in production a second person with the approve permission decides in the admin."
        )
