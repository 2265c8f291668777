"""Tenants (delivery companies using IntelliLog) and the API keys their systems authenticate with."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tenants.constants import DEFAULT_TIME_ZONE


def validate_time_zone(name: str) -> None:
    """A time zone this server can load (e.g. Asia/Kolkata): every prediction of the tenant goes through it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}, e.g. {DEFAULT_TIME_ZONE}", code="time_zone") from None


class Tenant(models.Model):
    """A delivery company; every domain row in IntelliLog belongs to exactly one tenant."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    # The tenant's delivery files carry local dates and clock times: this zone makes them instants.
    time_zone = models.CharField(max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class TenantOwned(models.Model):
    """Abstract base for every per-tenant table, so scoping has one column to filter on."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


class ApiKey(models.Model):
    """A tenant's API key. Only a SHA-256 hash of the secret is stored; the key is shown once.

    Keys look like ``il_<prefix>.<secret>``: the prefix is stored in clear and indexed so a request
    finds its candidate row in one lookup, then the secret's hash is compared in constant time.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="requests per minute; empty uses API_RATE_LIMIT_PER_MINUTE"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        permissions = [("revoke_apikey", "Can revoke API keys")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name} (il_{self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired and self.tenant.is_active
