"""Backtest metrics per day: each day is `compute_metrics` on that day's rows, and the days add up to the whole."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backtest import backtest_metrics
from core.evaluation import compute_metrics

_minutes = st.floats(min_value=1.0, max_value=120.0, allow_nan=False)
_rows = st.lists(
    st.tuples(st.integers(min_value=0, max_value=6), _minutes, _minutes, _minutes, _minutes), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(rows=_rows)
def test_each_day_is_its_own_rows_metrics_and_the_days_add_up_to_overall(rows) -> None:  # type: ignore[no-untyped-def]
    day_offsets, actual, predicted, low, width = (np.asarray(column) for column in zip(*rows, strict=True))
    days = np.datetime64("2022-03-01") + day_offsets.astype("timedelta64[D]")
    result = backtest_metrics(days=days, actual=actual, predicted=predicted, lower=low, upper=low + width)

    assert list(result.days) == sorted({str(day) for day in days})
    for label, metrics in result.days.items():
        mask = days == np.datetime64(label)
        expected = compute_metrics(actual[mask], predicted[mask], lower=low[mask], upper=(low + width)[mask])
        assert metrics.rows == expected.count
        assert metrics.mae == pytest.approx(expected.mae)
        assert metrics.within_5_min == pytest.approx(expected.within_5_min)
        assert metrics.interval_coverage == pytest.approx(expected.interval_coverage)
        assert metrics.bias == pytest.approx(float(np.mean(predicted[mask] - actual[mask])))
    weights = np.array([metrics.rows for metrics in result.days.values()])
    assert weights.sum() == result.overall.rows == len(rows)
    for name in ("mae", "bias", "within_5_min", "interval_coverage"):
        per_day = np.array([getattr(metrics, name) for metrics in result.days.values()])
        assert float(per_day @ weights) / weights.sum() == pytest.approx(getattr(result.overall, name))


def test_no_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="one day, actual, prediction and interval per delivery"):
        backtest_metrics(days=np.array([], dtype="datetime64[D]"), actual=[], predicted=[], lower=[], upper=[])
