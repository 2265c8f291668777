"""Describes API-key authentication to drf-spectacular so the OpenAPI schema documents it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from tenants.constants import API_KEY_SCHEME


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"'{API_KEY_SCHEME} il_<prefix>.<secret>' as printed by create_tenant",
        }
