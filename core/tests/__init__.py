"""Pure tests of the ML core (no database); `synthetic_deliveries` builds small clean-delivery frames."""

from __future__ import annotations

import math
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.features import FEATURE_NAMES

TIME_ZONE = ZoneInfo("Asia/Kolkata")
REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eta" / "deliveries.csv.gz"

_TRAFFIC_MINUTES = {"low": 0.0, "medium": 4.0, "high": 8.0, "jam": 12.0}


def synthetic_deliveries(rows: int = 1200, days: int = 20, seed: int = 0) -> pd.DataFrame:
    """Clean deliveries whose duration depends on distance, traffic and rating, plus noise.

    Same columns and dtypes as `core.delivery.schema.load_clean_frame`, so the ML code sees what it sees in
    production; a few restaurants and couriers repeat so history features have something to count.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-03-01 08:00", tz=TIME_ZONE)
    ordered_at = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 24 * 60, rows)).round(), unit="min")
    offset = rng.choice([0.01, 0.03, 0.05, 0.08, 0.11], rows)
    pickup_lat = rng.uniform(12.0, 23.0, rows)
    pickup_lon = rng.uniform(72.0, 80.0, rows)
    usable = rng.random(rows) > 0.1
    pickup_lat = np.where(usable, pickup_lat, 0.0)
    pickup_lon = np.where(usable, pickup_lon, 0.0)
    traffic = rng.choice(list(_TRAFFIC_MINUTES), rows)
    rating = np.round(rng.uniform(3.5, 5.0, rows), 1)
    rating[rng.random(rows) < 0.02] = np.nan
    minutes = (
        (
            12
            + 120 * offset
            + np.vectorize(_TRAFFIC_MINUTES.get)(traffic)
            + 6 * (5.0 - np.nan_to_num(rating, nan=4.5))
            + rng.normal(0, 2.5, rows)
        )
        .round()
        .clip(10, 60)
    )
    cities = np.array(["INDO", "BANG", "MUMB"])
    courier_id = [f"{cities[rng.integers(3)]}RES{rng.integers(1, 6)}DEL0{rng.integers(1, 4)}" for _ in range(rows)]
    return pd.DataFrame(
        {
            "external_order_id": [f"0x{i:04x}" for i in range(rows)],
            "courier_id": courier_id,
            "courier_age": rng.integers(20, 40, rows),
            "courier_rating": rating,
            "pickup_latitude": pickup_lat,
            "pickup_longitude": pickup_lon,
            "drop_latitude": pickup_lat + offset,
            "drop_longitude": pickup_lon + offset,
            "has_usable_coordinates": usable,
            "ordered_at": ordered_at,
            "picked_at": ordered_at + pd.to_timedelta(rng.choice([5, 10, 15], rows), unit="min"),
            "weather": pd.Series(rng.choice(["sunny", "cloudy", "fog", "stormy", "windy", None], rows), dtype=object),
            "traffic": traffic,
            "vehicle": rng.choice(["motorcycle", "scooter", "van"], rows),
            "area": rng.choice(["metropolitan", "urban", "other"], rows),
            "delivery_minutes": minutes.astype(np.float64),
            "fixes": [()] * rows,
        }
    )


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
