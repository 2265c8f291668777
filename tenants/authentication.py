"""DRF authentication by tenant API key: ``Authorization: Api-Key il_<prefix>.<secret>``."""

from __future__ import annotations

import datetime as dt
import hmac

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.constants import API_KEY_LAST_USED_RESOLUTION_SECONDS, API_KEY_SCHEME
from tenants.models import ApiKey
from tenants.services import hash_secret, secret_matches, split_raw_key

# Compared against when no key has the presented prefix, so an unknown prefix costs the same work as a
# wrong secret and timing does not reveal which prefixes exist.
_DUMMY_HASH = hash_secret("no-such-key")


class TenantPrincipal:
    """The authenticated caller: a tenant acting through one of its keys (DRF's request.user)."""

    is_authenticated = True

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.tenant = api_key.tenant

    def __str__(self) -> str:
        return f"tenant:{self.tenant.slug}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Resolves the tenant from its API key; missing, revoked or expired keys get a 401."""

    def authenticate(self, request: Request) -> tuple[TenantPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme != API_KEY_SCHEME or not raw_key.strip():
            raise exceptions.AuthenticationFailed(
                f"Authorization header must be '{API_KEY_SCHEME} <key>'", code="invalid_api_key"
            )
        parts = split_raw_key(raw_key.strip())
        api_key = None
        if parts is not None:
            api_key = ApiKey.objects.select_related("tenant").filter(prefix=parts[0]).first()
        if api_key is None:
            hmac.compare_digest(_DUMMY_HASH, hash_secret(parts[1] if parts else raw_key))
            raise exceptions.AuthenticationFailed("invalid API key", code="invalid_api_key")
        if not secret_matches(api_key, parts[1]):
            raise exceptions.AuthenticationFailed("invalid API key", code="invalid_api_key")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("API key revoked", code="api_key_revoked")
        if api_key.is_expired:
            raise exceptions.AuthenticationFailed("API key expired", code="api_key_expired")
        if not api_key.tenant.is_active:
            raise exceptions.AuthenticationFailed("tenant inactive", code="tenant_inactive")
        self._touch(api_key)
        return TenantPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{API_KEY_SCHEME} realm="api"'

    @staticmethod
    def _touch(api_key: ApiKey) -> None:
        now = timezone.now()
        threshold = dt.timedelta(seconds=API_KEY_LAST_USED_RESOLUTION_SECONDS)
        if api_key.last_used_at is None or now - api_key.last_used_at > threshold:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
