from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from deliveries.models import ImportBatch
from tenants.models import Tenant
from tenants.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Prepare the demo: an admin user, the 'demo' tenant with a fresh API key, and its delivery history "
        "(the public file when present, else a synthetic one). Safe to run again: nothing is imported twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--synthetic-rows", type=int, default=30000)
        parser.add_argument("--force-synthetic", action="store_true", help="ignore the public file even if present")

    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        admin = user_model.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            admin = user_model.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        else:
            admin.set_password(password)
            admin.save(update_fields=["password"])

        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or tenant_create(slug=DEMO_SLUG, name="Demo Deliveries")
        issued = api_key_create(tenant=tenant, name="bootstrap_demo")

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

        self.stdout.write("")
        self.stdout.write("IntelliLog demo is ready.")
        self.stdout.write(f"  Admin:   http://127.0.0.1:8000/admin/  user {ADMIN_USERNAME}  password {password}")
        self.stdout.write(f"  API key for tenant '{tenant.slug}' (shown once): {issued.raw_key}")
        self.stdout.write(
            f"  Try:     curl -H 'Authorization: Api-Key {issued.raw_key}' 'http://127.0.0.1:8000/api/v1/deliveries?limit=2'"
        )
