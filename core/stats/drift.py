"""The drift check: every test of a current window against the reference, corrected together, then gated.

`drift_check` is the one entry point the monitoring app calls. For each numeric feature it runs KS (effect:
Wasserstein in reference sds), for each categorical feature chi-square (effect: Jensen-Shannon distance), for
each feature with missing values a missing-share test, the same numeric test on the predicted ETA, and MMD on
the numeric features jointly. All p-values of the check form one Benjamini-Hochberg family; a test declares
drift only when its corrected p-value is below alpha AND its effect size reaches the threshold for its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from core.stats.columns import (
    CategoricalColumn,
    NumericColumn,
    categorical_column,
    category_counts,
    numeric_column,
    numeric_values,
)
from core.stats.constants import MISSING_LABEL, PRESENT_LABEL
from core.stats.histogram import FeatureHistogram, categorical_histogram, numeric_histogram
from core.stats.impact import EtaImpact, eta_impact
from core.stats.mmd import mmd_permutation_test
from core.stats.multiple_testing import benjamini_hochberg
from core.stats.results import (
    DriftResult,
    FeatureCheckKind,
    FeatureDrift,
    MultivariateDrift,
    Severity,
    most_severe,
)
from core.stats.thresholds import DriftThresholds
from core.stats.univariate import (
    JENSEN_SHANNON_METRIC,
    WASSERSTEIN_METRIC,
    UnivariateOutcome,
    categorical_drift_test,
    numeric_drift_test,
)

MMD_METRIC = "mmd_squared"
INSUFFICIENT_DATA_NOTE = "insufficient data: fewer values than the minimum sample size"


def drift_check(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction_column: str | None = None,
    thresholds: DriftThresholds | None = None,
    seed: int = 0,
) -> DriftResult:
    """Compare the `current` window with the `reference` (training) data and decide what drifted.

    `numeric` and `categorical` name the feature columns (both frames must have them); `prediction_column`
    names the predicted ETA, tested like a numeric feature. Missing values (NaN/None; inf for numbers) are left
    out of the value tests and tested on their own as a missing-share check whenever either side has any, so
    a feature going from 0% to 40% missing is drift even if its present values look the same. MMD runs when
    there are at least two numeric features (with one, it would repeat the KS test).

    The check's severity is its most severe test's, or with `thresholds.impact_tolerance_minutes` (and a
    prediction column) critical only when the ETAs moved at least that many minutes (`core.stats.impact`).

    `seed` drives the MMD subsampling and permutations, so the same inputs always give the same result.
    Raises ValueError for a column that is missing, named twice, or not numeric where numbers are expected.
    """
    thresholds = thresholds or DriftThresholds()
    _validate_columns(reference, current, numeric, categorical, prediction_column)

    value_checks: list[FeatureDrift] = []
    missing_share_checks: list[FeatureDrift | None] = []
    for name in numeric:
        reference_numeric, current_numeric = numeric_column(reference[name]), numeric_column(current[name])
        value_checks.append(_numeric_drift(name, "numeric", reference_numeric, current_numeric, thresholds))
        missing_share_checks.append(_missing_share_drift(name, reference_numeric, current_numeric, thresholds))
    for name in categorical:
        reference_labels, current_labels = categorical_column(reference[name]), categorical_column(current[name])
        value_checks.append(_categorical_drift(name, reference_labels, current_labels, thresholds))
        missing_share_checks.append(_missing_share_drift(name, reference_labels, current_labels, thresholds))
    prediction: FeatureDrift | None = None
    impact: EtaImpact | None = None
    if prediction_column is not None:
        reference_eta = numeric_column(reference[prediction_column])
        current_eta = numeric_column(current[prediction_column])
        prediction = _numeric_drift(prediction_column, "prediction", reference_eta, current_eta, thresholds)
        impact = eta_impact(
            reference_eta.present, current_eta.present, tolerance_minutes=thresholds.impact_tolerance_minutes
        )
        missing_share_checks.append(_missing_share_drift(prediction_column, reference_eta, current_eta, thresholds))
    multivariate = None
    if len(numeric) >= 2:
        multivariate = _multivariate_drift(reference, current, list(numeric), thresholds, np.random.default_rng(seed))

    undecided: list[FeatureDrift | MultivariateDrift] = [*value_checks]
    undecided += [check for check in missing_share_checks if check is not None]
    undecided += [check for check in (prediction, multivariate) if check is not None]
    decided = _correct_and_decide(undecided, thresholds)
    tested = [check for check in decided if check.status == "tested"]
    feature_checks = [check for check in decided if isinstance(check, FeatureDrift) and check.kind != "prediction"]
    is_drifted = any(check.is_drifted for check in tested)
    severity = most_severe([check.severity for check in tested])
    if is_drifted and thresholds.impact_tolerance_minutes is not None and impact is not None:
        severity = "critical" if impact.is_above_tolerance else "warning"
    return DriftResult(
        status="ok" if tested else "insufficient_data",
        is_drifted=is_drifted,
        severity=severity,
        n_reference=len(reference),
        n_current=len(current),
        features=tuple(feature_checks),
        prediction=next((c for c in decided if isinstance(c, FeatureDrift) and c.kind == "prediction"), None),
        multivariate=next((c for c in decided if isinstance(c, MultivariateDrift)), None),
        tests_in_family=len(tested),
        thresholds=thresholds,
        seed=seed,
        impact=impact,
    )


def drift_verdict(
    corrected_p_value: float, effect_size: float, *, min_effect: float, thresholds: DriftThresholds
) -> tuple[bool, Severity]:
    """Whether one test declares drift, and how severe it is.

    Drift needs both a corrected p-value below alpha (the change is real) and an effect of at least
    `min_effect` (the change matters): with 200,000 rows a shift of 0.02 sd is "significant" and irrelevant.
    Critical when the effect reaches `critical_multiplier` times the minimum.
    """
    is_drifted = corrected_p_value < thresholds.alpha and effect_size >= min_effect
    if not is_drifted:
        return False, "none"
    return True, "critical" if effect_size >= min_effect * thresholds.critical_multiplier else "warning"


def _validate_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction_column: str | None,
) -> None:
    names = [*numeric, *categorical, *([prediction_column] if prediction_column is not None else [])]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"columns named more than once: {duplicates}")
    for label, frame in (("reference", reference), ("current", current)):
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise ValueError(f"{label} has no column(s) {absent}")


def _numeric_drift(
    name: str,
    kind: FeatureCheckKind,
    reference: NumericColumn,
    current: NumericColumn,
    thresholds: DriftThresholds,
) -> FeatureDrift:
    outcome = None
    if min(reference.present.size, current.present.size) >= thresholds.min_samples_numeric:
        outcome = numeric_drift_test(reference.present, current.present)
    return _undecided(
        name,
        kind,
        outcome,
        reference=reference,
        current=current,
        n_compared=(reference.present.size, current.present.size),
        effect_metric=WASSERSTEIN_METRIC,
        min_effect=thresholds.numeric_min_effect,
        histogram=numeric_histogram(reference.present, current.present),
    )


def _categorical_drift(
    name: str, reference: CategoricalColumn, current: CategoricalColumn, thresholds: DriftThresholds
) -> FeatureDrift:
    labels, reference_counts, current_counts = category_counts(reference.present, current.present)
    outcome = None
    if min(reference.present.size, current.present.size) >= thresholds.min_samples_categorical:
        outcome = categorical_drift_test(labels, reference_counts, current_counts)
    return _undecided(
        name,
        "categorical",
        outcome,
        reference=reference,
        current=current,
        n_compared=(reference.present.size, current.present.size),
        effect_metric=JENSEN_SHANNON_METRIC,
        min_effect=thresholds.categorical_min_effect,
        histogram=categorical_histogram(labels, reference_counts, current_counts),
    )


def _missing_share_drift(
    name: str,
    reference: NumericColumn | CategoricalColumn,
    current: NumericColumn | CategoricalColumn,
    thresholds: DriftThresholds,
) -> FeatureDrift | None:
    """The present-vs-missing test of one column, or None when neither side has a missing value.

    Missingness is a two-level categorical feature of its own: the same chi-square (Fisher when a level is
    rare) and Jensen-Shannon thresholds apply. Columns that are complete on both sides add no test, so they
    do not dilute the correction.
    """
    if reference.missing_count == 0 and current.missing_count == 0:
        return None
    labels = [PRESENT_LABEL, MISSING_LABEL]
    reference_counts = np.array([reference.present.size, reference.missing_count])
    current_counts = np.array([current.present.size, current.missing_count])
    outcome = None
    if min(reference.row_count, current.row_count) >= thresholds.min_samples_categorical:
        outcome = categorical_drift_test(labels, reference_counts, current_counts)
    return _undecided(
        name,
        "missing_share",
        outcome,
        reference=reference,
        current=current,
        n_compared=(reference.row_count, current.row_count),
        effect_metric=JENSEN_SHANNON_METRIC,
        min_effect=thresholds.categorical_min_effect,
        histogram=categorical_histogram(labels, reference_counts, current_counts),
    )


def _undecided(
    name: str,
    kind: FeatureCheckKind,
    outcome: UnivariateOutcome | None,
    *,
    reference: NumericColumn | CategoricalColumn,
    current: NumericColumn | CategoricalColumn,
    n_compared: tuple[int, int],
    effect_metric: str,
    min_effect: float,
    histogram: FeatureHistogram,
) -> FeatureDrift:
    """A FeatureDrift before correction: no corrected p-value and no verdict yet (None outcome: no test)."""
    return FeatureDrift(
        feature=name,
        kind=kind,
        status="tested" if outcome is not None else "insufficient_data",
        n_reference=int(n_compared[0]),
        n_current=int(n_compared[1]),
        reference_missing_share=_share(reference.missing_count, reference.row_count),
        current_missing_share=_share(current.missing_count, current.row_count),
        test=outcome.test if outcome else None,
        statistic=outcome.statistic if outcome else None,
        p_value=outcome.p_value if outcome else None,
        corrected_p_value=None,
        effect_metric=outcome.effect_metric if outcome else effect_metric,
        effect_size=outcome.effect_size if outcome else None,
        min_effect=min_effect,
        psi=outcome.psi if outcome else None,
        is_drifted=False,
        severity="none",
        histogram=histogram,
        notes=outcome.notes if outcome else (INSUFFICIENT_DATA_NOTE,),
    )


def _multivariate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    thresholds: DriftThresholds,
    rng: np.random.Generator,
) -> MultivariateDrift:
    reference_matrix = np.column_stack([numeric_values(reference[name]) for name in numeric])
    current_matrix = np.column_stack([numeric_values(current[name]) for name in numeric])
    undecided = MultivariateDrift(
        features=tuple(numeric),
        status="insufficient_data",
        n_reference=len(reference_matrix),
        n_current=len(current_matrix),
        statistic=None,
        p_value=None,
        corrected_p_value=None,
        effect_metric=MMD_METRIC,
        effect_size=None,
        min_effect=thresholds.mmd_min_effect,
        bandwidth=None,
        permutations=0,
        is_drifted=False,
        severity="none",
    )
    if min(len(reference_matrix), len(current_matrix)) < thresholds.min_samples_mmd:
        return undecided
    outcome = mmd_permutation_test(
        reference_matrix,
        current_matrix,
        max_rows_per_side=thresholds.mmd_max_rows_per_side,
        permutations=thresholds.mmd_permutations,
        rng=rng,
    )
    return replace(
        undecided,
        status="tested",
        n_reference=outcome.n_reference,
        n_current=outcome.n_current,
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        # Unbiased MMD^2 scatters around 0 when nothing changed; a negative value is no effect at all.
        effect_size=max(outcome.statistic, 0.0),
        bandwidth=outcome.bandwidth,
        permutations=outcome.permutations,
    )


def _correct_and_decide(
    checks: list[FeatureDrift | MultivariateDrift], thresholds: DriftThresholds
) -> list[FeatureDrift | MultivariateDrift]:
    """Benjamini-Hochberg over every test that ran, then each test's verdict on its corrected p-value.

    One family per check: under "nothing changed" BH bounds the chance that the check declares anything at
    all by alpha, so the false-alarm rate per check is at most alpha before the effect gate lowers it further.
    Checks without a test pass through unchanged.
    """
    tested_positions = [index for index, check in enumerate(checks) if check.status == "tested"]
    corrected = benjamini_hochberg([_tested_value(checks[index].p_value) for index in tested_positions])
    decided = list(checks)
    for position, corrected_p_value in zip(tested_positions, corrected, strict=True):
        check = checks[position]
        is_drifted, severity = drift_verdict(
            float(corrected_p_value),
            _tested_value(check.effect_size),
            min_effect=check.min_effect,
            thresholds=thresholds,
        )
        decided[position] = replace(
            check, corrected_p_value=float(corrected_p_value), is_drifted=is_drifted, severity=severity
        )
    return decided


def _tested_value(value: float | None) -> float:
    # A tested check always has its p-value and effect; a default here would turn a bug into a verdict.
    if value is None:
        raise ValueError("a tested check lacks its p-value or effect size")
    return float(value)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
