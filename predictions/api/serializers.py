from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from core.delivery.plausibility import DELIVERY_MINUTES_RANGE, instant_problems
from core.delivery.schema import (
    AREA_VALUES,
    COURIER_AGE_RANGE,
    COURIER_RATING_RANGE,
    TRAFFIC_VALUES,
    VEHICLE_VALUES,
    WEATHER_VALUES,
)
from intellilog.api_bounds import FiniteFloatField, RejectUnknownFieldsMixin
from predictions.constants import MAX_DISTANCE_KM, ORDER_ID_MAX_LENGTH
from predictions.orders import order_id_normalise
from registry.models import ModelVersion

# The history files spell some areas differently; the API accepts the same spellings the importer does.
_AREA_SPELLINGS = {"metropolitian": "metropolitan", "semi-urban": "semi_urban", "semi urban": "semi_urban"}


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant that must carry its UTC offset: a bare clock time is ambiguous across zones."""

    default_error_messages = {
        "invalid": "not an ISO 8601 date-time",
        "naive": "must include a UTC offset, e.g. 2026-11-26T18:30:00+05:30",
    }

    def to_internal_value(self, value: Any) -> dt.datetime:
        try:
            parsed = parse_datetime(value.strip()) if isinstance(value, str) else None
        except ValueError:  # well formed but impossible, e.g. month 13
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if parsed.tzinfo is None:
            self.fail("naive")
        return parsed


class LevelField(serializers.ChoiceField):
    """One of a fixed set of levels, matched without regard to case ("High" is "high")."""

    def __init__(self, levels: tuple[str, ...], spellings: dict[str, str] | None = None, **kwargs: Any) -> None:
        self._spellings = spellings or {}
        super().__init__(choices=list(levels), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            lowered = data.strip().lower()
            data = self._spellings.get(lowered, lowered)
        return super().to_internal_value(data)


def _coordinate(limit: int) -> FiniteFloatField:
    return FiniteFloatField(min_value=-limit, max_value=limit, required=False, allow_null=True)


class OrderIdField(serializers.CharField):
    """An order id normalised by `order_id_normalise`, the same rule the outcome URL applies."""

    def to_internal_value(self, data: Any) -> str:
        try:
            return order_id_normalise(super().to_internal_value(data))
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None


class EtaRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """One order to predict, in the seed's field names; coordinates or ``distance_km``, and a time."""

    order_id = OrderIdField(max_length=ORDER_ID_MAX_LENGTH)
    pickup_latitude = _coordinate(90)
    pickup_longitude = _coordinate(180)
    drop_latitude = _coordinate(90)
    drop_longitude = _coordinate(180)
    distance_km = FiniteFloatField(min_value=0, max_value=MAX_DISTANCE_KM, required=False, allow_null=True)
    traffic_condition = LevelField(TRAFFIC_VALUES, required=False, allow_null=True)
    weather_condition = LevelField(WEATHER_VALUES, required=False, allow_null=True)
    ordered_at = AwareDateTimeField(required=False, allow_null=True)
    time_of_day = serializers.TimeField(
        required=False, allow_null=True, help_text="the seed's field: HH:MM[:SS] today in the tenant's time zone"
    )
    vehicle_type = LevelField(VEHICLE_VALUES)
    driver_id = serializers.CharField(max_length=64)
    picked_at = AwareDateTimeField(required=False, allow_null=True)
    area = LevelField(AREA_VALUES, spellings=_AREA_SPELLINGS, required=False, allow_null=True)
    driver_age = serializers.IntegerField(
        min_value=COURIER_AGE_RANGE[0], max_value=COURIER_AGE_RANGE[1], required=False, allow_null=True
    )
    driver_rating = FiniteFloatField(
        min_value=COURIER_RATING_RANGE[0], max_value=COURIER_RATING_RANGE[1], required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        coordinates = ("pickup_latitude", "pickup_longitude", "drop_latitude", "drop_longitude")
        given = [name for name in coordinates if attrs.get(name) is not None]
        if given and len(given) < len(coordinates):
            missing = next(name for name in coordinates if attrs.get(name) is None)
            raise serializers.ValidationError({missing: "required with the other coordinates"})
        if not given and attrs.get("distance_km") is None:
            raise serializers.ValidationError({"pickup_latitude": "give the four coordinates or distance_km"})
        if attrs.get("ordered_at") is None and attrs.get("time_of_day") is None:
            raise serializers.ValidationError({"ordered_at": "give ordered_at (or the seed's time_of_day)"})
        picked_at, ordered_at = attrs.get("picked_at"), attrs.get("ordered_at")
        if picked_at is not None and ordered_at is None:
            raise serializers.ValidationError({"picked_at": "needs ordered_at, not time_of_day"})
        problems = instant_problems(ordered_at=ordered_at, picked_at=picked_at, now=timezone.now(), is_completed=False)
        if problems:
            raise serializers.ValidationError({problem.field: problem.reason for problem in problems})
        return attrs


class EtaBatchRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Up to PREDICTION_BATCH_MAX_ORDERS orders predicted in one call."""

    orders = EtaRequestSerializer(many=True, allow_empty=False, max_length=settings.PREDICTION_BATCH_MAX_ORDERS)


class QuantilesSerializer(serializers.Serializer):
    p05 = serializers.FloatField()
    p25 = serializers.FloatField()
    p50 = serializers.FloatField()
    p75 = serializers.FloatField()
    p95 = serializers.FloatField()


class ContributionSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.JSONField(help_text="the feature's value (number, level or null)")
    minutes = serializers.FloatField(help_text="TreeSHAP contribution to the ETA; positive = slower")


class ExplanationSerializer(serializers.Serializer):
    base_minutes = serializers.FloatField()
    top = ContributionSerializer(many=True)
    other_minutes = serializers.FloatField(help_text="sum of the remaining features' contributions")


class OutOfRangeSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.JSONField()
    reason = serializers.CharField()


class FreshnessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["fresh", "stale", "missing"])
    source = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)


class EtaResponseSerializer(serializers.Serializer):
    """What a prediction returns (documentation only: the body is the audited response as stored)."""

    order_id = serializers.CharField()
    predicted_eta_minutes = serializers.FloatField()
    quantiles = QuantilesSerializer()
    confidence_score = serializers.FloatField(
        help_text="share of validation orders whose p05-p95 interval was wider than this one's (1 = narrowest)"
    )
    is_ood = serializers.BooleanField()
    out_of_range_features = OutOfRangeSerializer(many=True)
    explanation = ExplanationSerializer()
    model_version = serializers.IntegerField()
    model_name = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    feature_set = serializers.JSONField()
    feature_freshness = serializers.DictField(child=FreshnessSerializer())
    used_fallback = serializers.BooleanField()
    fallback_reason = serializers.CharField(allow_null=True)
    processing_time_ms = serializers.FloatField()
    audit_id = serializers.UUIDField()
    request_id = serializers.CharField()


class EtaBatchResponseSerializer(serializers.Serializer):
    predictions = EtaResponseSerializer(many=True)


class OutcomeRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The actual outcome of a predicted order: its duration in minutes, or when it was delivered."""

    delivery_minutes = FiniteFloatField(
        min_value=DELIVERY_MINUTES_RANGE[0], max_value=DELIVERY_MINUTES_RANGE[1], required=False, allow_null=True
    )
    delivered_at = AwareDateTimeField(required=False, allow_null=True)
    picked_at = AwareDateTimeField(required=False, allow_null=True, help_text="required if the prediction lacked it")
    driver_age = serializers.IntegerField(
        min_value=COURIER_AGE_RANGE[0],
        max_value=COURIER_AGE_RANGE[1],
        required=False,
        allow_null=True,
        help_text="required if the prediction lacked it",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("delivery_minutes") is None and attrs.get("delivered_at") is None:
            raise serializers.ValidationError({"delivery_minutes": "give delivery_minutes or delivered_at"})
        return attrs


class OutcomePredictionSerializer(serializers.Serializer):
    audit_id = serializers.UUIDField()
    model_version = serializers.IntegerField(source="model_version.version")
    predicted_eta_minutes = serializers.FloatField(source="audit.predicted_eta_minutes")
    error_minutes = serializers.FloatField(help_text="predicted minus actual")


class OutcomeResponseSerializer(serializers.Serializer):
    order_id = serializers.CharField(source="delivery.external_order_id")
    actual_minutes = serializers.FloatField(source="delivery.delivery_minutes")
    predictions = OutcomePredictionSerializer(source="outcomes", many=True)


class BulkOutcomeRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Up to PREDICTION_BATCH_MAX_ORDERS outcomes in one call. Each row is judged on its own (a bad row is
    reported in the answer, the others stored): order_id, delivery_minutes or delivered_at, and picked_at and
    driver_age where the prediction lacked them, as in POST /deliveries/{order_id}/outcome."""

    outcomes = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=settings.PREDICTION_BATCH_MAX_ORDERS
    )


class OutcomeRejectionSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1-based position in `outcomes`")
    order_id = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class BulkOutcomeResponseSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    recorded = serializers.IntegerField(help_text="orders whose outcome was stored now")
    predictions_joined = serializers.IntegerField(help_text="audited predictions joined to those outcomes")
    repeats = serializers.IntegerField(help_text="orders that already had this very outcome")
    rejected = serializers.IntegerField()
    rejections = OutcomeRejectionSerializer(many=True)


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
