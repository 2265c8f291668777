"""The audit trail of served ETAs and the outcomes reported against them.

Every table here is append-only (`intellilog.append_only`): rows are inserted by services and the ORM
and the database refuse to update or delete them, so a past prediction stays exactly as it was served.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from intellilog.append_only import AppendOnlyModel
from predictions.choices import PredictionSource
from registry.models import ModelVersion
from tenants.models import TenantOwned


class PredictionAudit(TenantOwned, AppendOnlyModel):
    """One served ETA, written before the response is returned: everything needed to reproduce it.

    ``request`` is the body as the caller sent it, ``order`` the normalised order the features were
    computed from, ``features`` the exact vector the model read (NaN as null) with each feature's
    freshness (a `predict_batch` row: each entity's, which its features share), and ``response`` the body
    returned. `replay_prediction` recomputes the outputs from
    ``features`` with ``model_version`` and compares them with ``response``.

    An idempotency key, when given, is unique per tenant for `IDEMPOTENCY_WINDOW_DAYS`: a retried request
    finds its row and gets the stored response back (``request_sha256`` tells a retry from a different request
    under the same key).

    On PostgreSQL the table is partitioned by month of ``created_at`` (`predictions.partitions`): the database
    key is ``(id, created_at)``, key uniqueness is kept by a trigger, and no foreign key constraint points at
    the table (relations to it are declared with ``db_constraint=False``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=16, choices=PredictionSource.choices)
    request_id = models.CharField(max_length=64)
    order_id = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_sha256 = models.CharField(max_length=64)
    request = models.JSONField()
    order = models.JSONField()
    features = models.JSONField()
    feature_freshness = models.JSONField()
    used_fallback = models.BooleanField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    artifact_sha256 = models.CharField(max_length=64)
    predicted_eta_minutes = models.FloatField()
    quantiles = models.JSONField()
    confidence_score = models.FloatField()
    is_ood = models.BooleanField()
    response = models.JSONField()
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Monitoring reads the last hour of one tenant's traffic, per serving version.
            models.Index(fields=["tenant", "model_version", "created_at"], name="audit_tenant_version_time_idx"),
            models.Index(fields=["tenant", "created_at"], name="audit_tenant_time_idx"),
            # Outcomes and the admin find an order's predictions.
            models.Index(fields=["tenant", "order_id"], name="audit_tenant_order_idx"),
            # A retry finds its stored prediction; only keyed requests have an entry.
            models.Index(
                fields=["tenant", "idempotency_key", "created_at"],
                condition=models.Q(idempotency_key__isnull=False),
                name="audit_tenant_idempotency_idx",
            ),
            # The admin finds a request id from a log line.
            models.Index(fields=["request_id"], name="audit_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.predicted_eta_minutes:.1f} min ({self.id})"


class PredictionOutcome(TenantOwned, AppendOnlyModel):
    """The actual delivery time of an order, joined to one prediction served for it (ground truth).

    One row per audited prediction of the order, so realized accuracy can be computed per model version
    without re-joining on order ids. ``error_minutes`` is predicted minus actual (positive = too slow).
    """

    # No database constraint: the audit is partitioned, and PostgreSQL cannot reference its `id` alone.
    audit = models.OneToOneField(PredictionAudit, on_delete=models.PROTECT, related_name="outcome", db_constraint=False)
    delivery = models.ForeignKey("deliveries.Delivery", on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    actual_minutes = models.FloatField()
    error_minutes = models.FloatField()
    reported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["tenant", "model_version", "reported_at"], name="outcome_tenant_version_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.audit_id}: actual {self.actual_minutes:.1f} min, error {self.error_minutes:+.1f}"


class BatchPredictionRun(TenantOwned, AppendOnlyModel):
    """One `predict_batch` file run: the audit of a file scoring, reproducible by running it again.

    The input and output checksums with the model version pin what was computed; each scored order also
    has its `PredictionAudit` row (source ``batch``, this run's ``request_id``), written in the same
    transaction as this row, so a single prediction of the file can be found and replayed. Runs recorded
    before batch rows were audited have an empty ``request_id``.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    artifact_sha256 = models.CharField(max_length=64)
    input_name = models.CharField(max_length=500)
    input_sha256 = models.CharField(max_length=64)
    output_name = models.CharField(max_length=500)
    output_sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    history_delivery_id = models.PositiveBigIntegerField(help_text="history features used deliveries up to this id")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True, help_text="the request id of its audit rows")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.input_name}: {self.rows} rows with {self.model_version}"


class ShadowPrediction(TenantOwned, AppendOnlyModel):
    """The challenger's prediction of an audited order, scored in the shadow after the caller was answered.

    Never returned to anyone: it exists for the A/B test. The challenger read exactly the audit's recorded
    feature vector, so the audit and this row compare the two models on identical inputs, and the order's
    outcome gives both an error. ``latency_ms`` is the challenger's own scoring time (a batch's time shared
    equally by its rows), spent in a worker, not in the request. One row per audit and challenger version,
    so a task that runs twice scores nothing twice.
    """

    # No database constraint, as for outcomes: the audit is partitioned.
    audit = models.ForeignKey(
        PredictionAudit, on_delete=models.PROTECT, related_name="shadow_predictions", db_constraint=False
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    artifact_sha256 = models.CharField(max_length=64)
    predicted_eta_minutes = models.FloatField()
    quantiles = models.JSONField()
    confidence_score = models.FloatField()
    is_ood = models.BooleanField()
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "model_version"], name="shadow_prediction_unique_audit_version")
        ]
        indexes = [
            models.Index(fields=["tenant", "model_version", "created_at"], name="shadow_tenant_version_time_idx"),
        ]

    def __str__(self) -> str:
        return f"shadow {self.audit_id}: {self.predicted_eta_minutes:.1f} min by {self.model_version}"


class BackfilledPrediction(TenantOwned, AppendOnlyModel):
    """A version's ETA for a stored delivery, scored after the fact by `backfill_predictions`: history as evidence.

    Kept in its own table, never among `ShadowPrediction` rows, so backfilled evidence cannot be mixed
    with live evidence by accident: no prediction here was served or seen by anyone. Scored from the
    delivery's point-in-time features (`registry.backtest.history_replay`), the same vector for every
    version, so two versions' rows of one delivery compare them on identical inputs; ``actual_minutes`` is
    the delivery's recorded time. One row per delivery and version: a rerun over the same days adds nothing.
    """

    delivery = models.ForeignKey("deliveries.Delivery", on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    artifact_sha256 = models.CharField(max_length=64)
    ordered_at = models.DateTimeField(help_text="the delivery's order time (pairs are taken in this order)")
    predicted_eta_minutes = models.FloatField()
    p05_minutes = models.FloatField(null=True)
    p95_minutes = models.FloatField(null=True)
    actual_minutes = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ordered_at"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "model_version"], name="backfilled_prediction_unique_version")
        ]
        indexes = [
            models.Index(fields=["model_version", "ordered_at"], name="backfilled_version_time_idx"),
        ]

    def __str__(self) -> str:
        return f"backfilled {self.delivery_id}: {self.predicted_eta_minutes:.1f} min by {self.model_version}"


class PredictionAuditArchive(AppendOnlyModel):
    """One month of the prediction audit exported to a Parquet file and detached from the table (retention).

    The only way an audit row leaves the table: the month's partition is written whole to ``path`` (relative
    to AUDIT_ARCHIVE_ROOT), its ``sha256`` and row count recorded here, and the partition detached and dropped
    in the same transaction. `replay_prediction` still finds an archived row, after checking the file's sha256.
    """

    month = models.DateField(unique=True, help_text="first day of the month (UTC)")
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveBigIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    archived_at = models.DateTimeField(default=timezone.now)
    archived_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"prediction audit {self.month:%Y-%m}: {self.rows} rows in {self.path}"
