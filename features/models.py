"""Feature sets: the registered, versioned definitions that training and serving both use."""

from __future__ import annotations

from django.db import models


class FeatureSet(models.Model):
    """One version of a named feature set, as defined in code (`core.features`).

    Registered by `features.services.feature_set_register_current`; a (name, version) pair is written
    once and its definitions never change afterwards: changing a feature means a new version, which
    also moves the online store to new keys. The TTL (operational, from FEATURE_TTL_SECONDS) is how long
    Redis keeps a materialised entity state of this set once materialisation stops refreshing it.
    """

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    entities = models.JSONField(help_text="what the features describe: the order and each history entity")
    features = models.JSONField(help_text="list of {name, kind, entity, description, levels}, in vector order")
    ttl_seconds = models.PositiveIntegerField(help_text="lifetime of a materialised entity state in Redis")
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="feature_set_unique_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class MaterializationWatermark(models.Model):
    """How far a tenant's online store was last materialised, so the next run recomputes only what changed.

    Written by `features.services.features_materialize` after every run: the time the states were taken
    as of, the largest delivery id the run had seen, and when the last full run was (a full run rewrites
    every state, which also renews every key's TTL in Redis).
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    feature_set = models.ForeignKey(FeatureSet, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateTimeField()
    delivery_id_at_most = models.BigIntegerField()
    full_run_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "feature_set"], name="materialization_watermark_unique_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.feature_set} for tenant #{self.tenant_id} as of {self.as_of:%Y-%m-%d %H:%M}"
