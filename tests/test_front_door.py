"""The front door: a landing page at `/` and API docs that work offline under a self-only CSP."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from registry.choices import Alias
from registry.models import ModelAlias
from registry.tests.factories import ModelVersionFactory, UserFactory


class _Assets(HTMLParser):
    """Collects what a page loads: script and stylesheet URLs, and whether any script or style is inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(attributes["src"] or "")
            else:
                self.inline.append("script")
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"] or "")
        elif tag == "style":
            self.inline.append("style")
        if "style" in attributes:
            self.inline.append(f"style attribute on {tag}")


def _assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


@pytest.mark.django_db
def test_api_docs_load_everything_from_the_app_itself_under_a_self_only_policy(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--no-input", stdout=io.StringIO())
    client = Client()  # a new client indexes the freshly collected directory

    page = client.get("/api/docs")
    assets = _assets(page.content.decode())

    assert page.status_code == 200
    policy = page["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "http" not in policy
    assert assets.inline == []
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= {Path(urlsplit(url).path).name for url in assets.urls}
    for url in assets.urls:
        assert not urlsplit(url).netloc, f"{url} comes from another origin"
        response = client.get(url)
        assert response.status_code == 200, url
        if urlsplit(url).query.startswith("script"):
            assert response["Content-Type"].startswith("application/javascript")
            assert b"/api/schema" in response.content


@pytest.mark.django_db
def test_the_landing_page_links_every_door_and_tells_staff_which_model_serves(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    champion = ModelVersionFactory(version=3, metrics={"mae": 3.5718})
    challenger = ModelVersionFactory(registered_model=champion.registered_model, version=4)
    for alias, version in ((Alias.CHAMPION, champion), (Alias.CHALLENGER, challenger)):
        ModelAlias.objects.create(
            tenant=champion.tenant, registered_model=champion.registered_model, alias=alias, version=version
        )
    anonymous, staff = Client(), Client()
    staff.force_login(UserFactory(is_staff=True))

    public = anonymous.get("/")
    detailed = staff.get("/")

    assert public.status_code == detailed.status_code == 200
    assert "default-src 'self'" in public["Content-Security-Policy"]
    for html in (public.content.decode(), detailed.content.decode()):
        links = set(re.findall(r'href="([^"]+)"', html))
        assert {"/admin/", "/api/docs", "/health/ready", "/metrics"} <= links
    assert champion.tenant.slug not in public.content.decode()
    row = re.sub(r"\s+", " ", detailed.content.decode())
    assert f"<code>{champion.tenant.slug}</code>" in row
    assert "eta v3, MAE 3.57 min" in row and "v4" in row
