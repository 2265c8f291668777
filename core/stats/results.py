"""The frozen result of a drift check and its JSON form, stored by the monitoring app in `DriftReport`.

Every number in `as_dict()` is a plain float or None (JSON has no NaN); the dict carries a schema version so
the admin can read reports written by older code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.stats.histogram import FeatureHistogram
from core.stats.impact import EtaImpact
from core.stats.serialise import finite_or_none
from core.stats.thresholds import DriftThresholds

DRIFT_RESULT_SCHEMA_VERSION = 1

Severity = Literal["none", "warning", "critical"]
# Ordered from least to most severe; the check's severity is the most severe of its tests.
SEVERITY_ORDER: tuple[Severity, ...] = ("none", "warning", "critical")
TestStatus = Literal["tested", "insufficient_data"]
CheckStatus = Literal["ok", "insufficient_data"]
# numeric / categorical: the feature's present values; missing_share: present vs missing rows of a feature;
# prediction: the predicted-ETA distribution (tested like a numeric feature).
FeatureCheckKind = Literal["numeric", "categorical", "missing_share", "prediction"]


@dataclass(frozen=True)
class FeatureDrift:
    """One univariate test of a drift check and its verdict.

    `n_reference`/`n_current` count what was compared (present values; rows for a missing-share check).
    When `status` is "insufficient_data" there is no test: statistic and p-values are None, the feature is
    not drifted and has severity "none", and it is left out of the multiple-testing family.
    `min_effect` is the effect-size threshold that applied; `corrected_p_value` is Benjamini-Hochberg
    adjusted across all tests of the check.
    """

    feature: str
    kind: FeatureCheckKind
    status: TestStatus
    n_reference: int
    n_current: int
    reference_missing_share: float | None
    current_missing_share: float | None
    test: str | None
    statistic: float | None
    p_value: float | None
    corrected_p_value: float | None
    effect_metric: str
    effect_size: float | None
    min_effect: float
    psi: float | None
    is_drifted: bool
    severity: Severity
    histogram: FeatureHistogram | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (None for every missing or non-finite number)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "status": self.status,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "reference_missing_share": finite_or_none(self.reference_missing_share),
            "current_missing_share": finite_or_none(self.current_missing_share),
            "test": self.test,
            "statistic": finite_or_none(self.statistic),
            "p_value": finite_or_none(self.p_value),
            "corrected_p_value": finite_or_none(self.corrected_p_value),
            "effect_metric": self.effect_metric,
            "effect_size": finite_or_none(self.effect_size),
            "min_effect": self.min_effect,
            "psi": finite_or_none(self.psi),
            "is_drifted": self.is_drifted,
            "severity": self.severity,
            "histogram": self.histogram.as_dict() if self.histogram is not None else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MultivariateDrift:
    """The MMD test over the numeric features jointly, and its verdict.

    `statistic` is the unbiased MMD^2 (it can be slightly negative when nothing changed); `effect_size` is the
    same value floored at 0. `n_reference`/`n_current` are the rows used after subsampling.
    """

    features: tuple[str, ...]
    status: TestStatus
    n_reference: int
    n_current: int
    statistic: float | None
    p_value: float | None
    corrected_p_value: float | None
    effect_metric: str
    effect_size: float | None
    min_effect: float
    bandwidth: float | None
    permutations: int
    is_drifted: bool
    severity: Severity

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (None for every missing or non-finite number)."""
        return {
            "features": list(self.features),
            "status": self.status,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "statistic": finite_or_none(self.statistic),
            "p_value": finite_or_none(self.p_value),
            "corrected_p_value": finite_or_none(self.corrected_p_value),
            "effect_metric": self.effect_metric,
            "effect_size": finite_or_none(self.effect_size),
            "min_effect": self.min_effect,
            "bandwidth": finite_or_none(self.bandwidth),
            "permutations": self.permutations,
            "is_drifted": self.is_drifted,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class DriftResult:
    """The verdict of one drift check of a current window against the reference.

    `status` is "insufficient_data" when not one test had enough data (no verdict at all); otherwise "ok",
    and tests that lacked data say so individually. `severity` is the most severe of the tests;
    `tests_in_family` is how many p-values were corrected together. `prediction` and `multivariate` are None
    when there was no prediction column / fewer than two numeric features. `impact`: how far the predicted ETAs
    moved (None without a prediction column); with an impact tolerance it decides `severity`.
    """

    status: CheckStatus
    is_drifted: bool
    severity: Severity
    n_reference: int
    n_current: int
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    multivariate: MultivariateDrift | None
    tests_in_family: int
    thresholds: DriftThresholds
    seed: int
    impact: EtaImpact | None = None

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features with at least one drifted test (present values or missing share)."""
        names = [result.feature for result in self.features if result.is_drifted]
        return tuple(dict.fromkeys(names))

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for a JSONField: `json.dumps(result.as_dict(), allow_nan=False)` works."""
        return {
            "schema_version": DRIFT_RESULT_SCHEMA_VERSION,
            "status": self.status,
            "is_drifted": self.is_drifted,
            "severity": self.severity,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted_features": list(self.drifted_features),
            "features": [result.as_dict() for result in self.features],
            "prediction": self.prediction.as_dict() if self.prediction is not None else None,
            "multivariate": self.multivariate.as_dict() if self.multivariate is not None else None,
            "tests_in_family": self.tests_in_family,
            "thresholds": self.thresholds.as_dict(),
            "seed": self.seed,
            "impact": self.impact.as_dict() if self.impact is not None else None,
        }


def most_severe(severities: list[Severity]) -> Severity:
    """The most severe of `severities` ("none" for an empty list)."""
    return max(severities, key=SEVERITY_ORDER.index, default="none")
