"""Turning statistics into JSON that PostgreSQL's JSONB accepts: plain floats, ints and lists, never NaN or inf.

A test that could not run has no p-value; JSON has no NaN, so "no value" is always `None` (null), never a
number that `json.dumps(..., allow_nan=False)` would reject or a reader could mistake for a result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def finite_or_none(value: float | np.floating | None) -> float | None:
    """`value` as a Python float, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def finite_list(values: Iterable[float] | np.ndarray) -> list[float | None]:
    """A list of Python floats with every non-finite entry replaced by None."""
    return [finite_or_none(value) for value in np.asarray(values, dtype=float).ravel()]
