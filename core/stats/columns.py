"""Reading one feature column of a window into what the tests compare: present values and the missing count.

Missing is NaN, None or pd.NA; for numeric features also +-inf, since no distance or KS statistic is defined
on them and a model input of infinity is a pipeline fault that should show up as missing-share drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class NumericColumn:
    """The present (finite) values of a numeric column and how many rows had none."""

    present: np.ndarray
    missing_count: int

    @property
    def row_count(self) -> int:
        return int(self.present.size + self.missing_count)


@dataclass(frozen=True)
class CategoricalColumn:
    """The present values of a categorical column as strings, and how many rows had none.

    Categories are compared as strings so that 3 and "3" (an int in training, a string from JSON) are one
    category, and so that they can be JSON keys.
    """

    present: np.ndarray
    missing_count: int

    @property
    def row_count(self) -> int:
        return int(self.present.size + self.missing_count)


def numeric_values(series: pd.Series) -> np.ndarray:
    """A numeric column as floats with every missing value (NaN, None, pd.NA, +-inf) as NaN.

    Raises ValueError for values that are not numbers (e.g. "fast"): silently treating them as missing would
    report drift in the missing share instead of the bug in the caller.
    """
    values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def numeric_column(series: pd.Series) -> NumericColumn:
    """Split a numeric column into its finite values and the count of missing ones (see `numeric_values`)."""
    values = numeric_values(series)
    is_present = ~np.isnan(values)
    return NumericColumn(present=values[is_present], missing_count=int(values.size - is_present.sum()))


def categorical_column(series: pd.Series) -> CategoricalColumn:
    """Split a categorical column into its present values (as labels, see `category_labels`) and the count of
    missing ones."""
    is_missing = series.isna().to_numpy()
    return CategoricalColumn(present=category_labels(series[~is_missing]), missing_count=int(is_missing.sum()))


def category_labels(values: pd.Series) -> np.ndarray:
    """Present category values as string labels, with whole-number floats written as integers.

    A numeric code column (hour of day, zone id) is int64 in a complete training frame but float64 as soon as
    one value is missing, and str(3.0) is "3.0" while str(3) is "3": without this every category of the
    current window would look new.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        is_whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        labels = values.astype(str).to_numpy(dtype=object)
        labels[is_whole] = numbers[is_whole].astype(np.int64).astype(str)
        return labels
    return values.map(_label).to_numpy(dtype=object)


def _label(value: object) -> str:
    # Object columns can mix ints and floats (values decoded from JSON): same rule per value.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(reference: np.ndarray, current: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts per category on both sides over the union of categories (those seen only in current included).

    Categories are ordered by total count, largest first, then by name, so the order is deterministic.
    """
    reference_counts = pd.Series(reference, dtype=object).value_counts()
    current_counts = pd.Series(current, dtype=object).value_counts()
    table = pd.concat([reference_counts, current_counts], axis=1, keys=["reference", "current"]).fillna(0)
    table["total"] = table["reference"] + table["current"]
    table.index = table.index.astype(str)
    table = table.reset_index(names="category").sort_values(["total", "category"], ascending=[False, True])
    return (
        table["category"].tolist(),
        table["reference"].to_numpy(dtype=np.int64),
        table["current"].to_numpy(dtype=np.int64),
    )
