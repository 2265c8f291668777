"""Admin pieces shared by every app."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


class ReadOnlyAdminMixin:
    """Records of what happened (imports, registry events, plans) are shown, never edited, in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def warning_flag(is_set: bool, label: str) -> SafeString:
    """A bad state (out of distribution, fallback, degraded) in warning colours; its absence as a dash.

    The admin's boolean icons show True as a green tick, which reads as "good" for exactly these flags.
    """
    if is_set:
        return format_html('<span class="il-warning">&#9888; {}</span>', label)
    return format_html("{}", "—")


def raw_json_details(documents: dict[str, Any]) -> SafeString:
    """Stored JSON documents, pretty-printed, behind a collapsed "raw" section under the readable tables."""
    text = json.dumps(documents, indent=2, sort_keys=True, default=str)
    return format_html('<details class="il-raw"><summary>raw JSON</summary><pre>{}</pre></details>', text)


def facts_table(rows: Iterable[tuple[str, object]]) -> SafeString:
    """Label/value pairs as the small two-column table of a detail page (values already rounded, with units)."""
    return format_html(
        '<table class="il-facts">{}</table>', format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    )


def data_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> SafeString:
    """Rows under a header line, for the lists inside a stored document (windows, streams, routes)."""
    cells = "".join("<td>{}</td>" for _ in headers)
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join("", "<tr>" + cells + "</tr>", rows)
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def minutes(value: float | None) -> str:
    """Minutes to 2 decimals, the precision a reviewer compares MAEs at; a dash when not measured."""
    return "-" if value is None else f"{value:.2f} min"


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def number(value: float | None) -> str:
    """A unitless figure (p-value, ratio, statistic) to 3 significant digits."""
    return "-" if value is None else f"{value:.3g}"


# Units read from a stored document's key names, which the services spell consistently (`*_minutes`, `*_ms`).
_MINUTE_KEYS = ("mae", "rmse", "bias", "_minutes", "_min")
_SHARE_KEYS = ("share", "coverage", "within_5_min", "_rate")


def readable(key: str, value: object) -> str:
    """One stored JSON value as a reviewer reads it: rounded, with the unit its key names."""
    if isinstance(value, str) and key.endswith("_at"):  # an instant stored in a document as ISO text
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S %Z}".strip()  # to the second: microseconds are noise to a reader
    if isinstance(value, bool) or not isinstance(value, float | int):
        return "-" if value is None else str(value)
    if key.endswith("_ms"):
        return f"{value:.1f} ms"
    if key.endswith(("_s", "_seconds")):
        return f"{value:.1f} s"
    if isinstance(value, int):
        return str(value)
    if key.endswith(_SHARE_KEYS):  # first: "within_5_min" is a share, not minutes
        return share(value)
    if key.endswith(_MINUTE_KEYS):
        return minutes(value)
    return number(value)


def document_facts(document: dict[str, Any]) -> SafeString:
    """A stored JSON document as a facts table: scalars rounded, nested objects one level deep as "a: b" rows.

    Lists of records are counted, not spelt out: their full text is in the raw section beside the table.
    """
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        if isinstance(value, dict):
            rows.extend((f"{key}: {inner}", _summary(inner, item)) for inner, item in value.items())
        else:
            rows.append((key.replace("_", " "), _summary(key, value)))
    return facts_table(rows)


def record_facts(record: models.Model, names: Sequence[str]) -> SafeString:
    """Fields of a stored row as a facts table, each value rounded with the unit its field name gives."""
    rows = []
    for name in names:
        field = record._meta.get_field(name)
        value = getattr(record, f"get_{name}_display")() if field.choices else getattr(record, name)
        rows.append((field.verbose_name, _summary(name, value)))
    return facts_table(rows)


def rounded_column(field: str, description: str, render: Callable[[Any], str]) -> Callable[..., str]:
    """A list column showing one float field rounded with its unit (`minutes`, `share`...), sortable by the field."""

    @admin.display(description=description, ordering=field)
    def column(record: models.Model) -> str:
        return render(getattr(record, field))

    return column


def _summary(key: str, value: object) -> str:
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        return f"{len(value)} entries (see raw)"
    if isinstance(value, list):
        return ", ".join(readable(key, item) for item in value) or "-"
    if isinstance(value, dict):
        return f"{len(value)} fields (see raw)"
    return readable(key, value)


def require_permission(request: HttpRequest, permission: str) -> None:
    """Refuse (403) an admin view or action to a user without the named permission, staff or not."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs the {permission} permission")


def actions_with_permission(admin_class: type[admin.ModelAdmin], permission: str) -> list[Any]:
    """A third-party admin's actions, each made to require ``permission`` ("change", "delete", ...).

    For admins shipped by libraries whose actions declare none, so that viewing a page never lets a user act.
    """
    return [admin.action(permissions=[permission])(getattr(admin_class, name)) for name in admin_class.actions or ()]


class VersionListFilter(admin.RelatedFieldListFilter):
    """The model-version filter of a list page, its choices named in one query.

    A version's name reads its registered model and that model's tenant; Django's own filter would fetch
    both once per version in the sidebar.
    """

    def field_choices(
        self, field: models.Field[Any, Any], request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[object, str]]:
        versions = field.related_model._default_manager.select_related("registered_model__tenant")  # type: ignore[union-attr]
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            versions = versions.order_by(*ordering)
        return [(version.pk, str(version)) for version in versions]
