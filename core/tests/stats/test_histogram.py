from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.stats.constants import POOLED_CATEGORY_LABEL
from core.stats.histogram import categorical_histogram, feature_histogram, numeric_histogram


def test_numeric_densities_share_edges_and_integrate_to_one() -> None:
    rng = np.random.default_rng(20)
    reference, current = rng.normal(size=1000), rng.normal(2.0, 1.0, size=400)

    histogram = numeric_histogram(reference, current, bins=15)

    widths = np.diff(histogram.bin_edges)
    assert len(histogram.bin_edges) == 16
    assert np.sum(np.array(histogram.reference_density) * widths) == pytest.approx(1.0)
    assert np.sum(np.array(histogram.current_density) * widths) == pytest.approx(1.0)
    # The range covers both windows, so the shifted current mass is not cut off.
    assert histogram.bin_edges[0] < -2.0 and histogram.bin_edges[-1] > 4.0


def test_an_extreme_value_lands_in_the_end_bin_instead_of_stretching_the_range() -> None:
    values = np.r_[np.linspace(0.0, 1.0, 999), 1e6]

    histogram = numeric_histogram(values, values, bins=10)

    assert histogram.bin_edges[-1] < 10.0
    widths = np.diff(histogram.bin_edges)
    assert np.sum(np.array(histogram.reference_density) * widths) == pytest.approx(1.0)


def test_constant_and_empty_sides_still_give_a_drawable_histogram() -> None:
    histogram = numeric_histogram(np.full(10, 4.0), np.array([]), bins=4)

    assert histogram.bin_edges[0] == pytest.approx(3.5) and histogram.bin_edges[-1] == pytest.approx(4.5)
    assert histogram.current_density == (0.0, 0.0, 0.0, 0.0)


def test_categorical_shares_are_ordered_by_total_and_the_tail_is_pooled() -> None:
    histogram = categorical_histogram(
        ["a", "b", "c", "d"], np.array([10, 40, 30, 20]), np.array([0, 20, 20, 60]), max_categories=3
    )

    assert histogram.categories == ("d", "b", POOLED_CATEGORY_LABEL)
    np.testing.assert_allclose(histogram.reference_density, [0.2, 0.4, 0.4])
    np.testing.assert_allclose(histogram.current_density, [0.6, 0.2, 0.2])


def test_feature_histogram_reads_columns_with_missing_values_and_is_json() -> None:
    reference = pd.Series(["sunny", "rainy", None, "sunny"])
    current = pd.Series(["rainy", "rainy", "fog", np.nan])

    histogram = feature_histogram(reference, current, kind="categorical")

    assert dict(zip(histogram.categories, histogram.current_density, strict=True)) == pytest.approx(
        {"rainy": 2 / 3, "sunny": 0.0, "fog": 1 / 3}
    )
    numeric = feature_histogram(pd.Series([1.0, np.nan, 3.0]), pd.Series([2.0, np.inf]), kind="numeric", bins=2)
    assert json.loads(json.dumps(numeric.as_dict(), allow_nan=False))["kind"] == "numeric"
