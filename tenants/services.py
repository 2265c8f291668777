"""Writes for tenants and API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from tenants.constants import API_KEY_PREFIX_BYTES, API_KEY_SECRET_BYTES, DEFAULT_TIME_ZONE
from tenants.models import ApiKey, Tenant, validate_time_zone


@dataclass(frozen=True)
class IssuedApiKey:
    """A freshly created key: `raw_key` exists only here and is never stored."""

    api_key: ApiKey
    raw_key: str


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is not brute-forceable and keeps auth cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_raw_key(raw_key: str) -> tuple[str, str] | None:
    """Split ``il_<prefix>.<secret>`` into its parts, or None when it is not shaped like a key."""
    if not raw_key.startswith("il_"):
        return None
    prefix, separator, secret = raw_key[3:].partition(".")
    if not separator or not prefix or not secret:
        return None
    return prefix, secret


def secret_matches(api_key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(api_key.hashed_secret, hash_secret(secret))


def tenant_create(*, slug: str, name: str = "", time_zone: str = DEFAULT_TIME_ZONE) -> Tenant:
    """Create a tenant after validating its slug and time zone."""
    if slugify(slug) != slug or not slug:
        raise ValidationError({"slug": f"{slug!r} is not a slug (lowercase letters, digits, hyphens)"})
    try:
        validate_time_zone(time_zone)
    except ValidationError as error:
        raise ValidationError({"time_zone": error.messages}) from None
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"tenant {slug!r} already exists"})
    return Tenant.objects.create(slug=slug, name=name or slug, time_zone=time_zone)


def api_key_create(*, tenant: Tenant, name: str, expires_at: dt.datetime | None = None) -> IssuedApiKey:
    """Issue a new key for a tenant; the returned raw key must be handed over now, it cannot be shown again."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "must be in the future"})
    with transaction.atomic():
        prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
        secret = secrets.token_urlsafe(API_KEY_SECRET_BYTES)
        api_key = ApiKey.objects.create(
            tenant=tenant, name=name, prefix=prefix, hashed_secret=hash_secret(secret), expires_at=expires_at
        )
    return IssuedApiKey(api_key=api_key, raw_key=f"il_{prefix}.{secret}")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; it stops working on the next request. Revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key
