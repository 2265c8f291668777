from __future__ import annotations

from rest_framework import serializers

from registry.models import ModelVersion


class ModelInfoSerializer(serializers.ModelSerializer):
    """The serving version as `GET /api/v1/models/info` shows it (the seed's endpoint)."""

    model = serializers.CharField(source="registered_model.name")
    feature_set = serializers.JSONField(source="lineage.feature_set")

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "artifact_sha256",
            "metrics",
            "feature_set",
            "lineage",
            "mlflow_run_id",
            "created_at",
        ]
