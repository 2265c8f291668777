"""Impact of a drift in minutes of ETA, and the severity it gives a drifted check."""

from __future__ import annotations

import numpy as np
import pytest

from core.stats import DriftThresholds, drift_check
from core.stats.impact import eta_impact
from core.tests.stats.synthetic import CATEGORICAL, NUMERIC, PREDICTION, delivery_window


def test_the_impact_is_the_distance_between_the_eta_distributions_in_minutes() -> None:
    impact = eta_impact(np.array([10.0, 20.0, np.nan]), np.array([13.0, 23.0]), tolerance_minutes=2.0)

    assert impact is not None
    assert impact.wasserstein_minutes == pytest.approx(3.0) and impact.mean_shift_minutes == pytest.approx(3.0)
    assert impact.is_above_tolerance and impact.as_dict()["is_above_tolerance"] is True
    assert eta_impact(np.array([]), np.array([1.0]), tolerance_minutes=2.0) is None
    assert not eta_impact(np.array([1.0]), np.array([9.0]), tolerance_minutes=None).is_above_tolerance  # type: ignore[union-attr]


@pytest.mark.parametrize(("eta_shift", "severity"), [(0.0, "warning"), (4.0, "critical")])
def test_a_drifted_check_pages_only_when_its_etas_moved_past_the_tolerance(eta_shift: float, severity: str) -> None:
    rng = np.random.default_rng(0)
    reference = delivery_window(rng, 3000)
    # Weather moved a lot (effect far above twice the minimum: critical by effect size alone).
    current = delivery_window(rng, 800, weather_shares=[0.1, 0.2, 0.3, 0.4], eta_shift_minutes=eta_shift)

    by_effect = drift_check(reference, current, numeric=NUMERIC, categorical=CATEGORICAL, prediction_column=PREDICTION)
    by_impact = drift_check(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction_column=PREDICTION,
        thresholds=DriftThresholds(impact_tolerance_minutes=2.0),
    )

    assert by_effect.severity == "critical" and by_impact.is_drifted
    assert by_impact.severity == severity
    assert by_impact.as_dict()["impact"]["tolerance_minutes"] == 2.0


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="impact_tolerance_minutes"):
        DriftThresholds(impact_tolerance_minutes=-1.0)
