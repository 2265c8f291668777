"""Small helpers shared by the feature store tests."""

from __future__ import annotations

from typing import Any

import redis


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
