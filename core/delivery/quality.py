"""Data-quality scoring for an import batch (plain Python: pandas and scipy, no Django).

The score (0-100) is a weighted mean of five checks, each a share in [0, 1]:

    score = 100 * (0.40 * validity            rows that passed schema and domain validation / rows read
                 + 0.25 * completeness        mean share of non-missing values over the file's columns
                 + 0.15 * (1 - outlier_share) numeric values with a robust z-score above 3.5, over all
                                              numeric values checked (accepted rows)
                 + 0.10 * (1 - duplicate_share)   repeated order ids inside the file / rows read
                 + 0.10 * (1 - shift))        the largest distribution change against the tenant's
                                              earlier deliveries (KS statistic for numeric columns, total
                                              variation distance for categorical ones); 0 for a first batch

Validity weighs most because a rejected row is data lost; shift weighs least because a change of
distribution is information, not necessarily an error. The robust z-score is Iglewicz and Hoaglin's
modified z = 0.6745 * (x - median) / MAD, with 3.5 their recommended cut-off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.delivery.schema import MISSING_TOKENS, RAW_COLUMNS

WEIGHTS = {"validity": 0.40, "completeness": 0.25, "outliers": 0.15, "duplicates": 0.10, "shift": 0.10}
ROBUST_Z_CUTOFF = 3.5
NUMERIC_COLUMNS = ("courier_age", "courier_rating", "delivery_minutes", "pickup_wait_minutes", "offset_degrees")
CATEGORICAL_COLUMNS = ("weather", "traffic", "vehicle", "area")


@dataclass(frozen=True)
class OutlierSummary:
    count: int
    checked: int
    share: float
    median: float | None
    mad: float | None


@dataclass(frozen=True)
class QualityResult:
    """Every figure of a quality report, ready to be stored."""

    score: float
    validity: float
    completeness: dict[str, float]
    outliers: dict[str, OutlierSummary]
    duplicate_share: float
    distribution_shift: dict[str, dict[str, float]]
    components: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def derived_numeric_frame(deliveries: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns the checks look at, including two derived from the raw fields."""
    frame = pd.DataFrame(index=deliveries.index)
    for column in ("courier_age", "courier_rating", "delivery_minutes"):
        frame[column] = pd.to_numeric(deliveries[column], errors="coerce")
    waits = pd.to_datetime(deliveries["picked_at"], utc=True) - pd.to_datetime(deliveries["ordered_at"], utc=True)
    frame["pickup_wait_minutes"] = waits.dt.total_seconds() / 60.0
    frame["offset_degrees"] = (
        deliveries["drop_latitude"].astype(float) - deliveries["pickup_latitude"].astype(float)
    ).abs()
    return frame


def robust_outliers(values: pd.Series) -> OutlierSummary:
    clean = values.dropna().to_numpy(dtype=float)
    if clean.size == 0:
        return OutlierSummary(0, 0, 0.0, None, None)
    median = float(np.median(clean))
    mad = float(np.median(np.abs(clean - median)))
    if mad == 0:
        # Over half the values are identical: flag only values that differ from them by more than
        # the spread of the rest would allow, measured with the mean absolute deviation instead.
        mad = float(np.mean(np.abs(clean - median))) or 0.0
    if mad == 0:
        return OutlierSummary(0, int(clean.size), 0.0, median, 0.0)
    modified_z = 0.6745 * (clean - median) / mad
    count = int(np.sum(np.abs(modified_z) > ROBUST_Z_CUTOFF))
    return OutlierSummary(count, int(clean.size), count / clean.size, median, mad)


def completeness_by_column(raw_rows: Sequence[dict[str, str]]) -> dict[str, float]:
    present = {
        column: sum((raw.get(column) or "").strip().lower() not in MISSING_TOKENS for raw in raw_rows)
        for column in RAW_COLUMNS
    }
    return completeness_from_counts(present, rows_read=len(raw_rows))


def completeness_from_counts(present: Mapping[str, int], *, rows_read: int) -> dict[str, float]:
    """`completeness_by_column` from per-column counts of non-missing values, for files read in chunks."""
    if not rows_read:
        return dict.fromkeys(RAW_COLUMNS, 0.0)
    return {column: present.get(column, 0) / rows_read for column in RAW_COLUMNS}


def total_variation(current: pd.Series, reference: pd.Series) -> float:
    current_share = current.fillna("(missing)").value_counts(normalize=True)
    reference_share = reference.fillna("(missing)").value_counts(normalize=True)
    levels = current_share.index.union(reference_share.index)
    gap = current_share.reindex(levels, fill_value=0) - reference_share.reindex(levels, fill_value=0)
    return float(gap.abs().sum() / 2)


def distribution_shift(current: pd.DataFrame, reference: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """Per column: the change of `current` against `reference` (the tenant's earlier deliveries)."""
    if reference is None or reference.empty or current.empty:
        return {}
    shift: dict[str, dict[str, float]] = {}
    current_numeric, reference_numeric = derived_numeric_frame(current), derived_numeric_frame(reference)
    for column in NUMERIC_COLUMNS:
        a, b = current_numeric[column].dropna(), reference_numeric[column].dropna()
        if len(a) and len(b):
            result = stats.ks_2samp(a, b)
            shift[column] = {"ks_statistic": float(result.statistic), "p_value": float(result.pvalue)}
    for column in CATEGORICAL_COLUMNS:
        shift[column] = {"total_variation": total_variation(current[column], reference[column])}
    return shift


def _largest_effect(shift: dict[str, dict[str, float]]) -> float:
    effects = [value.get("ks_statistic", value.get("total_variation", 0.0)) for value in shift.values()]
    return max(effects, default=0.0)


def assess_quality(
    *,
    raw_rows: Sequence[dict[str, str]],
    accepted: pd.DataFrame,
    rows_rejected: int,
    duplicates_in_file: int,
    reference: pd.DataFrame | None,
) -> QualityResult:
    """Score one batch: `raw_rows` as read, `accepted` the clean deliveries (schema.CleanDelivery columns)."""
    numeric = derived_numeric_frame(accepted) if not accepted.empty else pd.DataFrame(columns=NUMERIC_COLUMNS)
    return score_quality(
        rows_read=len(raw_rows),
        rows_rejected=rows_rejected,
        duplicates_in_file=duplicates_in_file,
        completeness=completeness_by_column(raw_rows),
        outliers={column: robust_outliers(numeric[column]) for column in NUMERIC_COLUMNS},
        shift=distribution_shift(accepted, reference),
    )


def score_quality(
    *,
    rows_read: int,
    rows_rejected: int,
    duplicates_in_file: int,
    completeness: dict[str, float],
    outliers: dict[str, OutlierSummary],
    shift: dict[str, dict[str, float]],
) -> QualityResult:
    """The score from a batch's checks, however they were computed (in memory, or set-wise by an importer)."""
    validity = (rows_read - rows_rejected) / rows_read if rows_read else 0.0
    checked = sum(summary.checked for summary in outliers.values())
    outlier_share = sum(summary.count for summary in outliers.values()) / checked if checked else 0.0
    duplicate_share = duplicates_in_file / rows_read if rows_read else 0.0
    components = {
        "validity": validity,
        "completeness": float(np.mean(list(completeness.values()))),
        "outliers": 1.0 - outlier_share,
        "duplicates": 1.0 - duplicate_share,
        "shift": 1.0 - _largest_effect(shift),
    }
    score = 100.0 * sum(WEIGHTS[name] * value for name, value in components.items())
    return QualityResult(
        score=round(score, 2),
        validity=validity,
        completeness=completeness,
        outliers=outliers,
        duplicate_share=duplicate_share,
        distribution_shift=shift,
        components=components,
    )
