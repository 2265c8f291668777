"""The admin's static files are served by the application itself (WhiteNoise), as gunicorn runs it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client


@pytest.mark.django_db
def test_collected_admin_styles_are_served_with_long_caching_off_the_app(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--no-input", stdout=io.StringIO())

    # A new client builds a new middleware chain, which indexes the freshly collected directory.
    response = Client().get("/static/admin/css/base.css")
    missing = Client().get("/static/admin/css/no-such-file.css")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    assert b"".join(response.streaming_content) == (tmp_path / "admin" / "css" / "base.css").read_bytes()
    assert "max-age" in response["Cache-Control"]
    assert missing.status_code == 404
