"""`GET /metrics` for Prometheus: django-prometheus's request and database metrics and our ML metrics.

Protection: with ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>`` (compared in
constant time), else 401. Without it the endpoint is open, which suits a private network where only
Prometheus reaches the web service; wherever the web port is public, set the token (docker-compose
requires it) or keep ``/metrics`` off the public load balancer. The page shows tenant slugs and traffic
volumes, nothing more sensitive.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from monitoring.exporter import metrics_registry


def is_bearer_authorized(request: HttpRequest, token: str) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every process's metrics in the classic Prometheus text format (0.0.4), which every scraper reads."""
    token = settings.METRICS_TOKEN
    if token and not is_bearer_authorized(request, token):
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
