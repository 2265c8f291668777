from __future__ import annotations

from rest_framework import serializers

from deliveries.models import DataQualityReport, Delivery, ImportBatch


class DeliverySerializer(serializers.ModelSerializer):
    order_id = serializers.CharField(source="external_order_id")

    class Meta:
        model = Delivery
        fields = [
            "order_id",
            "courier_id",
            "courier_age",
            "courier_rating",
            "pickup_latitude",
            "pickup_longitude",
            "drop_latitude",
            "drop_longitude",
            "has_usable_coordinates",
            "ordered_at",
            "picked_at",
            "weather",
            "traffic",
            "vehicle",
            "area",
            "delivery_minutes",
            "import_batch",
        ]


class DataQualityReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataQualityReport
        exclude = ["id", "batch"]


class ImportBatchSerializer(serializers.ModelSerializer):
    quality_report = DataQualityReportSerializer(read_only=True)

    class Meta:
        model = ImportBatch
        exclude = ["tenant"]
