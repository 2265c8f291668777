"""Small helpers shared by the feature store tests."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import redis

from predictions.ml.features import FEATURE_NAMES


class CountingRedis(redis.Redis):
    """A real Redis client that records every round trip it makes: each command, and each pipeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips.append(str(args[0]).upper())
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        self.round_trips.append("PIPELINE")
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)


def order_from(history: pd.DataFrame, position: int) -> dict[str, object]:
    """A delivery of ``history`` as the prediction path sees it: every field but the outcome."""
    order = history.iloc[position].to_dict()
    del order["delivery_minutes"]
    return order


def assert_same_vector(online: dict[str, object], offline: pd.Series) -> None:
    """Exact equality, NaN equal to NaN: served and training features must agree bit for bit."""
    assert list(online) == list(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        left, right = online[name], offline[name]
        if isinstance(left, float) and math.isnan(left):
            assert isinstance(right, float) and math.isnan(right), name
        else:
            assert left == right, (name, left, right)
