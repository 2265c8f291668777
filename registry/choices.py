from __future__ import annotations

from django.db import models


class VersionStatus(models.TextChoices):
    PENDING = "pending", "Pending (training)"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


class Alias(models.TextChoices):
    CHAMPION = "champion", "Champion"
    CHALLENGER = "challenger", "Challenger"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class EventKind(models.TextChoices):
    REGISTERED = "registered", "Version registered"
    PROMOTION_REQUESTED = "promotion_requested", "Promotion requested"
    PROMOTION_APPROVED = "promotion_approved", "Promotion approved"
    PROMOTION_REJECTED = "promotion_rejected", "Promotion rejected"
    PROMOTED = "promoted", "Champion moved"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CHALLENGER_SET = "challenger_set", "Challenger set"
    ARCHIVED = "archived", "Version archived"
