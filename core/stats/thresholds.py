"""The operator-facing settings of a drift check, in one frozen dataclass so a check is reproducible from it.

The Django side builds one from settings or per-tenant configuration and stores `as_dict()` with each report,
so a report always says which thresholds produced its verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DriftThresholds:
    """Significance level, minimum effect sizes, severity and sample-size rules of one drift check.

    A test declares drift only when its Benjamini-Hochberg corrected p-value is below `alpha` AND its effect
    size reaches the minimum for its kind; it is `critical` when the effect also reaches
    `critical_multiplier` times that minimum (or, with `impact_tolerance_minutes`, when the ETAs moved that far).
    The defaults are starting points to calibrate with `bench/drift.py`.

    Effect sizes:
      - numeric (and prediction): Wasserstein distance in reference standard deviations: a mean shift of
        0.1 sd gives 0.1. Two windows of 500 rows from one distribution already differ by about 0.1 by chance,
        so at that size the p-value is the binding gate; the effect gate binds on large windows.
      - categorical (and missing share): Jensen-Shannon distance in bits, in [0, 1]. 0.1 is e.g. a binary
        share moving from 50% to 62%, or a feature going from never to 2% missing.
      - MMD: the unbiased MMD^2 with an RBF kernel on standardised numeric features (kernel units, in [0, 2]).
        It shrinks as features are added, so calibrate it for the feature count in use; 0.005 is about a
        0.2-sd shift of one of three features, 0.02 a 0.5-sd shift or a correlation moving from 0 to 0.8.
    """

    alpha: float = 0.05
    numeric_min_effect: float = 0.1
    categorical_min_effect: float = 0.1
    mmd_min_effect: float = 0.005
    critical_multiplier: float = 2.0
    # Impact-ranked severity (`core.stats.impact`): when set and the check has predicted ETAs, a drifted check is
    # critical (pages) only when the window's ETAs moved at least this many minutes from the reference's, and a
    # warning (recorded, shown) otherwise, whatever the effect sizes; None keeps the effect-size rule above.
    impact_tolerance_minutes: float | None = None
    # Below these counts (present values per side for a feature, rows per side for MMD) a test gives
    # "insufficient data" instead of a verdict: KS and chi-square have little power and MMD's median
    # bandwidth is unstable on a few dozen rows.
    min_samples_numeric: int = 50
    min_samples_categorical: int = 50
    min_samples_mmd: int = 50
    # MMD costs O(rows^2 * permutations); both are bounded so one check takes well under a second.
    mmd_max_rows_per_side: int = 500
    mmd_permutations: int = 200

    def __post_init__(self) -> None:
        # A mistyped setting must fail when it is loaded, not turn every check silent or alarming.
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for name in ("numeric_min_effect", "categorical_min_effect", "mmd_min_effect"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.impact_tolerance_minutes is not None and self.impact_tolerance_minutes < 0.0:
            raise ValueError(f"impact_tolerance_minutes must be >= 0, got {self.impact_tolerance_minutes}")
        if self.critical_multiplier < 1.0:
            raise ValueError(f"critical_multiplier must be >= 1, got {self.critical_multiplier}")
        for name in ("min_samples_numeric", "min_samples_categorical", "min_samples_mmd"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")
        if self.mmd_max_rows_per_side < self.min_samples_mmd:
            raise ValueError("mmd_max_rows_per_side must be >= min_samples_mmd")
        if self.mmd_permutations < 1:
            raise ValueError(f"mmd_permutations must be >= 1, got {self.mmd_permutations}")

    def as_dict(self) -> dict[str, Any]:
        """The thresholds as a JSON-serialisable dict (stored with each report)."""
        return asdict(self)
