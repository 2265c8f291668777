"""The OpenAPI schema is generated without warnings and validates (checked on every test run)."""

from __future__ import annotations

from io import StringIO

import yaml
from django.core.management import call_command


def test_schema_validates_without_warnings_and_documents_api_key_auth() -> None:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "'Api-Key il_<prefix>.<secret>' as printed by create_tenant",
    }
    for path in ("/api/v1/deliveries", "/api/v1/models/versions", "/api/v1/models/events", "/api/v1/routes/optimize"):
        assert path in schema["paths"], path
