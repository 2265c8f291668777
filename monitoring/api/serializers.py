from __future__ import annotations

from rest_framework import serializers

from monitoring.models import AccuracyReport, Alert, DriftReport

# Reports name their model version by number, the way the registry API addresses versions.
_VERSION = {"source": "model_version.version"}


class DriftReportSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(**_VERSION)

    class Meta:
        model = DriftReport
        fields = [
            "id",
            "model_version",
            "window_start",
            "window_end",
            "status",
            "severity",
            "is_drifted",
            "drifted_features",
            "n_reference",
            "n_current",
            "note",
            "alert",
            "created_at",
        ]


class DriftReportDetailSerializer(DriftReportSerializer):
    class Meta(DriftReportSerializer.Meta):
        fields = [*DriftReportSerializer.Meta.fields, "result"]


class AccuracyReportSerializer(serializers.ModelSerializer):
    """Realized accuracy with the CUSUM change detector's state (`cusum_ratio` above 1: alarm)."""

    model_version = serializers.IntegerField(**_VERSION)

    class Meta:
        model = AccuracyReport
        fields = [
            "id",
            "model_version",
            "window_start",
            "window_end",
            "recent_window_start",
            "status",
            "outcomes",
            "mae",
            "within_5_share",
            "mean_error",
            "recent_outcomes",
            "recent_mae",
            "recent_within_5_share",
            "recent_mean_error",
            "validation_mae",
            "baseline_mae",
            "baseline_mean_error",
            "tolerance",
            "max_bias_minutes",
            "min_outcomes",
            "is_degraded",
            "cusum_ratio",
            "change_detection",
            "alert",
            "created_at",
        ]


class AccuracyReportDetailSerializer(AccuracyReportSerializer):
    class Meta(AccuracyReportSerializer.Meta):
        fields = [*AccuracyReportSerializer.Meta.fields, "segments", "findings"]


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "subject",
            "severity",
            "status",
            "summary",
            "details",
            "first_fired_at",
            "last_seen_at",
            "occurrences",
            "resolved_at",
        ]
