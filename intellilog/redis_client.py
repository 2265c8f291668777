"""The process's Redis client (REDIS_URL), shared by the feature store and the API rate limiter.

Both sit on the prediction path, which must answer even when Redis hangs or restarts, so the client
fails fast: a short socket timeout and one immediate retry (a pooled connection closed by a restart),
after which callers fall back (features from the database) or fail open (rate limiting).
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.backoff import NoBackoff
from redis.retry import Retry

# A read that takes longer than this gives up: the database fallback is slower but bounded.
REDIS_SOCKET_TIMEOUT_SECONDS = 0.2
# One quick retry covers a pooled connection that Redis closed; more would only delay the fallback.
REDIS_RETRIES = 1

_client: redis.Redis | None = None
_client_lock = threading.Lock()


def get_client() -> redis.Redis:
    """The process's Redis client, created on first use; its connection pool is shared by all threads."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.REDIS_URL,
                    socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
                    retry=Retry(NoBackoff(), REDIS_RETRIES),
                )
    return _client


@receiver(setting_changed)
def _forget_client_on_new_url(*, setting: str, **kwargs: Any) -> None:
    # Tests (and anything else that overrides settings) must reach the Redis they point at, not the one
    # the cached client was created for.
    global _client
    if setting == "REDIS_URL":
        with _client_lock:
            if _client is not None:
                _client.close()
            _client = None
