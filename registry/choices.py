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
    # The champion was restored by the post-promotion watch because the new one's realized error was
    # significantly worse; kept apart from a person's rollback so the log says which was which.
    AUTOMATIC_ROLLBACK = "automatic_rollback", "Rolled back automatically"
    CHALLENGER_SET = "challenger_set", "Challenger set"
    ARCHIVED = "archived", "Version archived"


class ShadowOutcome(models.TextChoices):
    """What one look at the shadow A/B test decided (`core.stats.ab_comparison.ABOutcome`)."""

    CHALLENGER_BETTER = "challenger_better", "Challenger significantly better"
    NOT_BETTER = "not_better", "Not better (test ended)"
    KEEP_COLLECTING = "keep_collecting", "No decision yet (keep collecting)"


class EvidenceSource(models.TextChoices):
    """Where the pairs of a shadow A/B look came from: served traffic, or history scored after the fact."""

    LIVE = "live", "Live traffic"
    BACKFILLED = "backfilled", "Backfilled from stored history"
