"""What a drift is worth in minutes: how far the model's ETAs for the window moved from those for the reference.

A drift test says a feature's distribution changed; it does not say whether anyone should be woken up. What a
delivery team feels is the ETA: the estimate here is the change in the predicted-ETA distribution between the
(stratified) reference and the window, in minutes, the 1-Wasserstein distance (the mean absolute difference of
matched quantiles; at least the shift of the mean ETA, and it also sees a spread that widened). The model's
error moves by at most that much on traffic the model still describes: if a changed mix of features moved the
ETAs by 0.3 minutes, the change cannot move the error by more than 0.3 minutes unless the model is wrong about
it, and that is what realized accuracy on outcomes watches. A drift alarm pages (critical) only when this impact
reaches the tolerance; below it the drift is recorded at warning level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class EtaImpact:
    """The move of the predicted ETAs, window against reference, in minutes, and the tolerance it is judged by."""

    wasserstein_minutes: float
    mean_shift_minutes: float
    tolerance_minutes: float | None

    @property
    def is_above_tolerance(self) -> bool:
        """At or above the tolerance (False when none is set: nothing pages on impact then)."""
        return self.tolerance_minutes is not None and self.wasserstein_minutes >= self.tolerance_minutes

    def as_dict(self) -> dict[str, float | bool | None]:
        return {**asdict(self), "is_above_tolerance": self.is_above_tolerance}


def eta_impact(
    reference_eta: np.ndarray, current_eta: np.ndarray, *, tolerance_minutes: float | None
) -> EtaImpact | None:
    """The impact of the window's ETAs against the reference's (None when either side has no finite ETA)."""
    reference = np.asarray(reference_eta, dtype=np.float64)
    current = np.asarray(current_eta, dtype=np.float64)
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if reference.size == 0 or current.size == 0:
        return None
    return EtaImpact(
        wasserstein_minutes=float(stats.wasserstein_distance(reference, current)),
        mean_shift_minutes=float(current.mean() - reference.mean()),
        tolerance_minutes=tolerance_minutes,
    )
