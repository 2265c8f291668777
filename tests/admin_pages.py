"""Every admin list and change page, read as a person reads it: no unrounded float, no raw JSON on show.

Raw JSON is allowed only inside the collapsed ``<details class="il-raw">`` section; scripts, styles and
pictures are not text a person reads. Used by the admin page test and, against a live database, by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

from django.contrib import admin
from django.test import Client
from django.urls import reverse

# Four decimals or more: nobody reads minutes or shares to that precision (ISO instants with microseconds
# included, which show as "…:00.123456"). A small figure to 3 significant digits (p 0.000123) is rounded.
DECIMALS = re.compile(r"(\d+)\.(\d{4,})")
# A JSON object or list as text: `{"key"` or `["item"`, the start of a dumped document.
JSON_TEXT = re.compile(r"[{\[]\s*\"")
_HIDDEN = {"script", "style"}


class _VisibleText(HTMLParser):
    """The text of a page outside scripts, styles and the collapsed raw section; and any <pre> outside it."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.pre_blocks = 0
        self._hidden_depth = 0
        self._details_stack: list[bool] = []  # per open <details>: is it the raw section?

    @property
    def _is_hidden(self) -> bool:
        return self._hidden_depth > 0 or any(self._details_stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "details":
            self._details_stack.append("il-raw" in (dict(attrs).get("class") or "").split())
        elif tag == "pre" and not self._is_hidden:
            self.pre_blocks += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag == "details" and self._details_stack:
            self._details_stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._is_hidden:
            self.parts.append(data)


def page_problems(html: str) -> list[str]:
    """What a reviewer should not have to read on this page: unrounded numbers, JSON text, <pre> dumps."""
    parser = _VisibleText()
    parser.feed(html)
    text = " ".join(parser.parts)
    problems = [
        f"unrounded {match.group(0)} in {_around(text, match.start())!r}"
        for match in DECIMALS.finditer(text)
        if not _is_small_and_rounded(match)
    ]
    problems += [f"JSON text in {_around(text, match.start())!r}" for match in JSON_TEXT.finditer(text)]
    if parser.pre_blocks:
        problems.append(f"{parser.pre_blocks} <pre> block(s) outside the raw section")
    return problems


def _is_small_and_rounded(match: re.Match[str]) -> bool:
    whole, decimals = match.groups()
    significant = decimals.lstrip("0")
    return not whole.strip("0") and 0 < len(significant) <= 3


def _around(text: str, index: int) -> str:
    return " ".join(text[max(0, index - 40) : index + 40].split())


# Django's own pages per model: the list and change pages are walked by name, the rest are forms or redirects.
_STANDARD_VIEWS = ("_changelist", "_add", "_delete", "_history", "_change", "_autocomplete")


def admin_pages() -> Iterator[tuple[str, str]]:
    """(name, url) of every registered admin's list page, and the change page and the extra pages an admin
    adds (model card, rollback, approve...) of its newest row, if it has one."""
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        yield f"{meta.app_label}.{meta.model_name} list", reverse(f"{prefix}_changelist")
        first = model._default_manager.order_by("-pk").first()
        if first is None:
            continue
        yield f"{meta.app_label}.{meta.model_name} change", reverse(f"{prefix}_change", args=[first.pk])
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if name and "<int:pk>" in str(pattern.pattern) and not name.endswith(_STANDARD_VIEWS):
                yield f"{meta.app_label}.{name}", reverse(f"admin:{name}", args=[first.pk])


def admin_walk(client: Client) -> dict[str, list[str]]:
    """Each admin page's problems (pages without any left out); a page that does not answer 200 is one too.

    Redirects are followed: a POST-only action (e.g. backtest the champion) sends a GET back to its page,
    which is then the page judged.
    """
    found: dict[str, list[str]] = {}
    for name, url in admin_pages():
        response = client.get(url, follow=True)
        problems = (
            page_problems(response.content.decode())
            if response.status_code == 200
            else [f"answered {response.status_code}"]
        )
        if problems:
            found[f"{name} {url}"] = problems
    return found
