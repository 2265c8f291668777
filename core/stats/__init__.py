"""Drift and A/B statistics of the monitoring app, in plain Python (numpy, scipy, pandas; no Django).

The monitoring services call these and store the `as_dict()` of the results; nothing here reads or writes the
database, so every statistic is unit-tested on arrays alone.

    drift_check(reference, current, numeric=..., categorical=..., prediction_column=..., thresholds=..., seed=...)
        -> DriftResult              per-feature KS / chi-square + effect sizes, missing shares, prediction
                                    drift, MMD; Benjamini-Hochberg across the check; effect-size gate
    feature_histogram(reference, current, kind=...) -> FeatureHistogram   reference-vs-current plot data
    shadow_ab_decision(champion_errors, challenger_errors, settings=...) -> ABDecision
                                    paired Wilcoxon with minimum sample and effect, alpha spending over looks

    cusum_statistic(values, k=...) -> CusumStatistic      two-sided CUSUM (Page) of a standardised stream;
                                    adjusted_threshold(h, k=, tests=) for many statistics judged at once

Modules: `drift` (the check), `univariate` and `mmd` (the tests), `effect_sizes`, `multiple_testing`,
`sequential` (alpha spending), `cusum` (sequential change detection), `ab_test`, `histogram`,
`results`/`thresholds` (the dataclasses), `columns` (reading a column's present values), `constants`,
`serialise` (JSON without NaN).
"""

from __future__ import annotations

from core.stats.ab_comparison import ABDecision, ABOutcome, ABTestSettings, shadow_ab_decision
from core.stats.drift import drift_check, drift_verdict
from core.stats.histogram import FeatureHistogram, feature_histogram
from core.stats.multiple_testing import benjamini_hochberg
from core.stats.results import DriftResult, FeatureDrift, MultivariateDrift, Severity
from core.stats.thresholds import DriftThresholds

__all__ = [
    "ABDecision",
    "ABOutcome",
    "ABTestSettings",
    "DriftResult",
    "DriftThresholds",
    "FeatureDrift",
    "FeatureHistogram",
    "MultivariateDrift",
    "Severity",
    "benjamini_hochberg",
    "drift_check",
    "drift_verdict",
    "feature_histogram",
    "shadow_ab_decision",
]
