from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from features.models import FeatureSet
from intellilog.admin import ReadOnlyAdminMixin


@admin.register(FeatureSet)
class FeatureSetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Feature sets are registered from code (`core.features`), so the admin only shows them."""

    list_display = ("name", "version", "entity_list", "feature_count", "ttl_seconds", "registered_at")
    search_fields = ("name",)
    fields = ("name", "version", "entity_list", "ttl_seconds", "registered_at", "feature_table")
    readonly_fields = fields

    @admin.display(description="entities")
    def entity_list(self, feature_set: FeatureSet) -> str:
        return ", ".join(feature_set.entities)

    @admin.display(description="features")
    def feature_count(self, feature_set: FeatureSet) -> int:
        return len(feature_set.features)

    @admin.display(description="features, in vector order")
    def feature_table(self, feature_set: FeatureSet) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    feature["name"],
                    feature["kind"],
                    feature["entity"],
                    feature["description"],
                    ", ".join(feature["levels"]),
                )
                for feature in feature_set.features
            ),
        )
        header = "<tr><th>name</th><th>type</th><th>entity</th><th>description</th><th>levels</th></tr>"
        return format_html("<table>{}{}</table>", SafeString(header), rows)
