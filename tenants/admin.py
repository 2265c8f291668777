"""Tenants and their API keys in the admin: keys are issued by an action and revoked, never deleted."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import add_never_cache_headers

from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create, api_key_revoke

ISSUE_PERMISSION = "tenants.add_apikey"
REVOKE_PERMISSION = "tenants.revoke_apikey"


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Keys are issued through the "Issue a new API key" action so the secret is shown exactly once.
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "time_zone", "is_active", "created_at")
    search_fields = ("slug", "name")
    list_filter = ("is_active",)
    inlines = [ApiKeyInline]
    actions = ["issue_api_key"]

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Deleting a tenant would take its keys (and their revocation record) with it: deactivate instead.
        return False

    def has_issue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ISSUE_PERMISSION)

    @admin.action(description="Issue a new API key (shown once)", permissions=["issue"])
    def issue_api_key(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse:
        """Answer with a page showing the new keys once: not a message, which would travel in a cookie."""
        issued = [(tenant, api_key_create(tenant=tenant, name=f"admin:{request.user}")) for tenant in queryset]
        context = {
            **self.admin_site.each_context(request),
            "title": "New API keys",
            "issued": [(tenant.slug, key.raw_key) for tenant, key in issued],
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/tenants/issued_keys.html", context)
        add_never_cache_headers(response)
        return response


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tenant", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("tenant",)
    readonly_fields = ("tenant", "prefix", "hashed_secret", "created_at", "revoked_at", "last_used_at")
    fields = ("tenant", "name", "prefix", "hashed_secret", "created_at", "expires_at", "revoked_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Keys are revoked, never deleted, superuser or not: the revocation is the record of who had access.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVOKE_PERMISSION)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
