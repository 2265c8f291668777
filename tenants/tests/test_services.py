"""API keys: hashed storage, revocation, expiry; tenant creation and its command."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create, api_key_revoke, split_raw_key, tenant_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_key_is_stored_only_as_a_hash_of_its_secret() -> None:
    issued = api_key_create(tenant=TenantFactory(), name="ci")
    prefix, secret = split_raw_key(issued.raw_key)
    stored = ApiKey.objects.get(pk=issued.api_key.pk)

    assert stored.prefix == prefix
    assert stored.hashed_secret == hashlib.sha256(secret.encode()).hexdigest()
    stored_text = " ".join(str(value) for value in ApiKey.objects.filter(pk=stored.pk).values().first().values())
    assert secret not in stored_text


def test_revoke_is_recorded_once_and_makes_the_key_unusable() -> None:
    issued = api_key_create(tenant=TenantFactory(), name="ci")
    first = api_key_revoke(api_key=issued.api_key).revoked_at
    second = api_key_revoke(api_key=issued.api_key).revoked_at
    assert first is not None and first == second
    assert not issued.api_key.is_usable


def test_expiry_must_be_in_the_future_and_passes() -> None:
    tenant = TenantFactory()
    with pytest.raises(ValidationError, match="expires_at"):
        api_key_create(tenant=tenant, name="old", expires_at=timezone.now() - dt.timedelta(seconds=1))
    issued = api_key_create(tenant=tenant, name="soon", expires_at=timezone.now() + dt.timedelta(hours=1))
    assert issued.api_key.is_usable
    ApiKey.objects.filter(pk=issued.api_key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    issued.api_key.refresh_from_db()
    assert issued.api_key.is_expired and not issued.api_key.is_usable


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "Not A Slug"}, "not a slug"),
        ({"slug": "ok", "time_zone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_tenant_create_validates(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        tenant_create(**fields)
    assert not Tenant.objects.exists()


def test_create_tenant_command_prints_a_working_key_once(capsys) -> None:  # type: ignore[no-untyped-def]
    call_command("create_tenant", "acme", "--time-zone", "Europe/Berlin")
    output = capsys.readouterr().out
    raw_key = output.split("API key (shown once): ")[1].strip()
    tenant = Tenant.objects.get(slug="acme")
    _, secret = split_raw_key(raw_key)
    assert tenant.time_zone == "Europe/Berlin"
    assert tenant.api_keys.get().hashed_secret == hashlib.sha256(secret.encode()).hexdigest()

    with pytest.raises(CommandError, match="slug: tenant 'acme' already exists"):
        call_command("create_tenant", "acme")
