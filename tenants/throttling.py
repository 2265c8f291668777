"""Per-API-key rate limiting: a fixed one-minute window counted in Redis, shared by every worker.

DRF's own throttles keep a list of timestamps per key in the cache and rewrite it on every request; a
Redis INCR with an expiry is one atomic round trip and exact across processes. When Redis cannot be
reached the request is let through (and logged): predictions must keep flowing while Redis is down, and
a short outage of rate limiting harms less than an outage of the API.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from intellilog.redis_client import get_client
from tenants.authentication import TenantPrincipal
from tenants.constants import RATE_LIMIT_WINDOW_SECONDS

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(BaseThrottle):
    """Allows each API key its ``rate_limit_per_minute`` (or API_RATE_LIMIT_PER_MINUTE) requests a minute."""

    def __init__(self) -> None:
        self._retry_after: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        principal = request.user
        if not isinstance(principal, TenantPrincipal):
            return True  # unauthenticated requests are refused by authentication, not counted here
        api_key = principal.api_key
        limit = api_key.rate_limit_per_minute or settings.API_RATE_LIMIT_PER_MINUTE
        now = time.time()
        window = int(now // RATE_LIMIT_WINDOW_SECONDS)
        key = f"{settings.RATE_LIMIT_KEY_PREFIX}:{api_key.pk}:{window}"
        try:
            pipeline = get_client().pipeline(transaction=False)
            pipeline.incr(key)
            pipeline.expire(key, RATE_LIMIT_WINDOW_SECONDS * 2)
            count, _ = pipeline.execute()
        except redis.RedisError as exc:
            logger.warning("rate limiter unavailable, letting the request through: %s", exc)
            return True
        if count <= limit:
            return True
        self._retry_after = (window + 1) * RATE_LIMIT_WINDOW_SECONDS - now
        return False

    def wait(self) -> float | None:
        return self._retry_after
