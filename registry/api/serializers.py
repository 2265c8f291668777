from __future__ import annotations

from rest_framework import serializers

from registry.models import ModelVersion, RegistryEvent, ShadowEvaluation


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "status",
            "status_detail",
            "aliases",
            "artifact_sha256",
            "metrics",
            "mlflow_run_id",
            "created_by",
            "created_at",
        ]

    def get_aliases(self, version: ModelVersion) -> list[str]:
        return sorted(alias.alias for alias in version.aliases.all())


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "evaluation", "lineage"]


class RegistryEventSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    from_version = serializers.IntegerField(source="from_version.version", allow_null=True, default=None)
    to_version = serializers.IntegerField(source="to_version.version", allow_null=True, default=None)

    class Meta:
        model = RegistryEvent
        fields = ["id", "model", "kind", "actor", "from_version", "to_version", "reason", "created_at"]


class ShadowEvaluationSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    champion = serializers.IntegerField(source="champion.version")
    challenger = serializers.IntegerField(source="challenger.version")
    summary = serializers.CharField(read_only=True)

    class Meta:
        model = ShadowEvaluation
        fields = [
            "id",
            "model",
            "champion",
            "challenger",
            "source",
            "look",
            "pairs",
            "outcome",
            "p_value",
            "boundary",
            "effect_minutes",
            "champion_mae",
            "challenger_mae",
            "summary",
            "created_at",
        ]


class ShadowEvaluationDetailSerializer(ShadowEvaluationSerializer):
    class Meta(ShadowEvaluationSerializer.Meta):
        fields = [*ShadowEvaluationSerializer.Meta.fields, "decision"]
