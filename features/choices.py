"""Enumerations reported with every online feature vector."""

from __future__ import annotations

from django.db import models


class Freshness(models.TextChoices):
    """How current a served feature value is, judged against the online store."""

    FRESH = "fresh", "Fresh"
    # Older than FEATURE_STALE_AFTER_SECONDS: still served, flagged so callers can see it.
    STALE = "stale", "Stale"
    # The store had no usable value (key absent, store unreachable, or a state already past the order).
    MISSING = "missing", "Missing"


class FeatureSource(models.TextChoices):
    """Where a served feature value came from."""

    REQUEST = "request", "Request"
    ONLINE_STORE = "online_store", "Online store"
    DATABASE = "database", "Database (computed on the fly)"
