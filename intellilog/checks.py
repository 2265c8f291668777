"""Deployment checks (`manage.py check --deploy`): production settings that would expose or stall the service.

Run by the release pipeline and the k8s/compose assets' tests; each id says what to set.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def metrics_token_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """/metrics lists tenants and their traffic: in production only a scraper holding the token may read it."""
    if settings.METRICS_TOKEN:
        return []
    return [
        Error(
            "METRICS_TOKEN is not set: /metrics is open to anyone who reaches the web port.",
            hint="Set METRICS_TOKEN (or METRICS_TOKEN_FILE) and give Prometheus the same token.",
            id="intellilog.E001",
        )
    ]


@register(Tags.security, deploy=True)
def broker_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Without a broker Celery runs tasks inline: an asynchronous routing solve would hold a web thread."""
    broker = settings.CELERY_BROKER_URL
    if broker and not broker.startswith("memory://"):
        return []
    return [
        Error(
            "CELERY_BROKER_URL is not set: tasks (routing, training, monitoring) would run inside web requests.",
            hint="Point CELERY_BROKER_URL at RabbitMQ or Redis and run a worker.",
            id="intellilog.E002",
        )
    ]
