"""The landing page at ``/``: where a person who opened the server (or the admin's "View site") goes next."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from intellilog.csp import self_only_csp
from registry.choices import Alias
from registry.selectors import eta_challenger, eta_champion, tenants_with_alias


@require_GET
@self_only_csp
def landing(request: HttpRequest) -> HttpResponse:
    """Links to the admin, API docs, health and metrics, and which model serves each tenant.

    Tenant names and versions are shown to staff and in local development only: an anonymous visitor of
    a production server learns nothing about who its customers are.
    """
    is_detailed = request.user.is_staff or settings.DEBUG
    serving = []
    if is_detailed:
        for tenant in tenants_with_alias(Alias.CHAMPION):
            serving.append(
                {"tenant": tenant, "champion": eta_champion(tenant=tenant), "challenger": eta_challenger(tenant=tenant)}
            )
    return render(request, "landing.html", {"is_detailed": is_detailed, "serving": serving})
