from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.stats.columns import categorical_column, category_counts, numeric_column


def test_numeric_column_counts_nan_none_na_and_infinity_as_missing() -> None:
    column = numeric_column(pd.Series([1.0, np.nan, None, np.inf, -np.inf, 2.0]))
    nullable = numeric_column(pd.Series([1, pd.NA, 3], dtype="Int64"))

    np.testing.assert_array_equal(column.present, [1.0, 2.0])
    assert (column.missing_count, column.row_count) == (4, 6)
    np.testing.assert_array_equal(nullable.present, [1.0, 3.0])
    assert nullable.missing_count == 1


def test_numeric_column_rejects_text() -> None:
    with pytest.raises(ValueError):
        numeric_column(pd.Series([1.0, "fast"]))


def test_a_numeric_code_is_one_category_whether_its_column_is_int_float_or_mixed() -> None:
    # Training: int64 hours; live: float64 because one value is missing, or objects decoded from JSON.
    as_int = categorical_column(pd.Series([8, 9, 9]))
    as_float = categorical_column(pd.Series([8.0, np.nan, 9.0, 9.5]))
    mixed = categorical_column(pd.Series([8, 9.0, "rain", None, True]))

    assert list(as_int.present) == ["8", "9", "9"]
    assert list(as_float.present) == ["8", "9", "9.5"] and as_float.missing_count == 1
    assert list(mixed.present) == ["8", "9", "rain", "True"] and mixed.missing_count == 1


def test_category_counts_cover_both_sides_ordered_by_total_then_name() -> None:
    labels, reference, current = category_counts(
        np.array(["b", "a", "a", "c"], dtype=object), np.array(["new", "b", "new", "c"], dtype=object)
    )

    assert labels == ["a", "b", "c", "new"]
    np.testing.assert_array_equal(reference, [2, 1, 1, 0])
    np.testing.assert_array_equal(current, [0, 1, 1, 2])
