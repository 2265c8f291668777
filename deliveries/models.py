"""Completed deliveries (the tenant's history), the import batches that brought them, and quality reports."""

from __future__ import annotations

from django.db import models

from deliveries.choices import AREA_CHOICES, TRAFFIC_CHOICES, VEHICLE_CHOICES, WEATHER_CHOICES, ImportSource
from tenants.models import TenantOwned


class ImportBatch(TenantOwned):
    """One import of a delivery-history file: its fingerprint, row accounting and timings.

    Append-only: written once when the import has finished (a failed file writes no batch at all), so
    rows_read == rows_imported + rows_rejected + rows_duplicate always holds.
    """

    source = models.CharField(max_length=16, choices=ImportSource.choices, default=ImportSource.FILE)
    file_name = models.CharField(max_length=500)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    rows_read = models.PositiveIntegerField()
    rows_imported = models.PositiveIntegerField()
    rows_rejected = models.PositiveIntegerField()
    rows_duplicate = models.PositiveIntegerField()
    # Counts of rows repaired rather than refused (sign typos, midnight pickups, (0,0) stores), by kind.
    normalisations = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "import batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    rows_read=models.F("rows_imported") + models.F("rows_rejected") + models.F("rows_duplicate")
                ),
                name="import_batch_rows_add_up",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name} ({self.rows_imported}/{self.rows_read} imported)"

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class RejectedRow(models.Model):
    """A row of an import file that was not imported, with every reason found (line, column, reason)."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejected_rows")
    line_number = models.PositiveIntegerField()
    errors = models.JSONField(help_text="list of {column, reason}")
    raw = models.JSONField(help_text="the row as read from the file")

    class Meta:
        ordering = ["batch", "line_number"]

    def __str__(self) -> str:
        return f"line {self.line_number}: " + "; ".join(f"{e['column']}: {e['reason']}" for e in self.errors)


class Delivery(TenantOwned):
    """A completed delivery as imported: what was known at order time plus the outcome (delivery_minutes)."""

    external_order_id = models.CharField(max_length=64)
    courier_id = models.CharField(max_length=64, db_index=True)
    courier_age = models.PositiveSmallIntegerField()
    courier_rating = models.FloatField(null=True, blank=True)
    pickup_latitude = models.FloatField()
    pickup_longitude = models.FloatField()
    drop_latitude = models.FloatField()
    drop_longitude = models.FloatField()
    # False for placeholder restaurant locations at (0, 0): the offset still measures a distance, but the
    # points are not real places.
    has_usable_coordinates = models.BooleanField(default=True)
    ordered_at = models.DateTimeField()
    picked_at = models.DateTimeField()
    weather = models.CharField(max_length=16, choices=WEATHER_CHOICES, null=True, blank=True)
    traffic = models.CharField(max_length=16, choices=TRAFFIC_CHOICES, null=True, blank=True)
    vehicle = models.CharField(max_length=16, choices=VEHICLE_CHOICES)
    area = models.CharField(max_length=16, choices=AREA_CHOICES, null=True, blank=True)
    delivery_minutes = models.FloatField()
    # Empty for an outcome reported through the API (POST /api/v1/deliveries/{order_id}/outcome).
    import_batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="deliveries", null=True, blank=True
    )

    class Meta:
        ordering = ["-ordered_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_order_id"], name="delivery_unique_order_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "ordered_at"], name="delivery_tenant_ordered_idx")]

    def __str__(self) -> str:
        return f"{self.external_order_id} ({self.delivery_minutes:g} min)"


class DataQualityReport(models.Model):
    """The quality verdict on one import batch: per-column checks and the 0-100 score the training gate reads.

    The score's formula is documented in `core.delivery.quality` and in docs/concepts.md.
    """

    batch = models.OneToOneField(ImportBatch, on_delete=models.CASCADE, related_name="quality_report")
    score = models.FloatField()
    passes_gate = models.BooleanField()
    gate_threshold = models.FloatField()
    validity = models.FloatField(help_text="share of rows that passed schema and domain validation")
    completeness = models.JSONField(help_text="share of non-missing values per column")
    outliers = models.JSONField(help_text="per numeric column: robust-z outlier count and share")
    duplicate_share = models.FloatField()
    distribution_shift = models.JSONField(help_text="per column: change against the tenant's earlier data")
    components = models.JSONField(help_text="the score's weighted parts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"quality {self.score:.1f} for batch #{self.batch_id}"
