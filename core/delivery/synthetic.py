"""A synthetic delivery history in the bundled file's raw schema (plain Python, numpy only).

Used where the public file is absent (its license forbids shipping it). The structure mirrors the
real data so that everything downstream has something to learn: cities with restaurants, couriers tied
to a restaurant (ids like ``BANGRES07DEL02``), distance as an equal offset on both axes, lunch and
dinner peaks, traffic that follows the hour, and delivery times driven by distance, traffic, weather,
vehicle, area, courier rating and age plus noise. It also writes the same kinds of dirty values as the
real file (trailing spaces, ``NaN`` text, (0, 0) restaurants, sign typos, impossible ratings, missing
order times, midnight-crossing pickups) so the importer's repairs and rejections are exercised.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from core.delivery.schema import RAW_COLUMNS

CITIES = {
    "BANG": (12.97, 77.59),
    "CHEN": (13.08, 80.27),
    "HYD": (17.39, 78.49),
    "MUM": (19.08, 72.88),
    "INDO": (22.72, 75.86),
    "JAP": (26.91, 75.79),
    "PUNE": (18.52, 73.86),
    "COIMB": (11.02, 76.96),
}
WEATHER = ("Sunny", "Cloudy", "Fog", "Stormy", "Sandstorms", "Windy")
WEATHER_MINUTES = {"Sunny": -2.0, "Cloudy": 1.5, "Fog": 2.5, "Stormy": 1.0, "Sandstorms": 1.5, "Windy": 0.5}
TRAFFIC = ("Low", "Medium", "High", "Jam")
TRAFFIC_MINUTES = {"Low": -3.0, "Medium": 1.5, "High": 3.0, "Jam": 5.5}
VEHICLES = ("motorcycle", "scooter", "van", "bicycle")
VEHICLE_WEIGHTS = (0.58, 0.33, 0.085, 0.005)
VEHICLE_MINUTES = {"motorcycle": 0.5, "scooter": -0.5, "van": -1.0, "bicycle": 2.0}
AREAS = ("Metropolitian", "Urban", "Semi-Urban", "Other")
AREA_WEIGHTS = (0.745, 0.225, 0.004, 0.026)
AREA_MINUTES = {"Metropolitian": 1.0, "Urban": -2.0, "Semi-Urban": 14.0, "Other": 0.5}
# Rows drawn and written at a time: bounds the generator's memory, whatever the file's size.
SYNTHETIC_CHUNK_ROWS = 200_000
# No value is quoted: none of the generated values holds a comma, a quote or a line break.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")
ORDER_HOUR_WEIGHTS = np.array([0.3, 0.1, 0, 0, 0, 0, 0, 0, 2, 3, 3, 3, 2, 1, 1, 1, 1, 2, 4, 5, 6, 6, 6, 4], dtype=float)


@dataclass(frozen=True)
class SyntheticConfig:
    rows: int
    seed: int
    start: dt.date = dt.date(2022, 2, 11)
    days: int = 46
    restaurants_per_city: int = 20
    couriers_per_restaurant: int = 3
    # Shares of dirty values, close to the public file's.
    zero_store_share: float = 0.085
    sign_typo_share: float = 0.005
    missing_order_time_share: float = 0.002
    impossible_rating_share: float = 0.0015
    missing_rating_share: float = 0.0015


class _Courier(TypedDict):
    id: str
    store: tuple[float, float]
    age: int
    rating: float
    skill: float


def _courier_table(config: SyntheticConfig, rng: np.random.Generator) -> list[_Courier]:
    couriers: list[_Courier] = []
    for city, (lat, lon) in CITIES.items():
        for restaurant in range(1, config.restaurants_per_city + 1):
            store = (lat + rng.normal(0, 0.05), lon + rng.normal(0, 0.05))
            for courier in range(1, config.couriers_per_restaurant + 1):
                couriers.append(
                    {
                        "id": f"{city}RES{restaurant:02d}DEL{courier:02d}",
                        "store": store,
                        "age": int(rng.integers(20, 40)) if rng.random() > 0.01 else int(rng.choice([15, 50])),
                        "rating": float(np.clip(rng.normal(4.65, 0.3), 2.5, 5.0).round(1)),
                        "skill": rng.normal(0, 1.5),
                    }
                )
    return couriers


def _pick(
    rng: np.random.Generator, values: Sequence[str], weights: Sequence[float] | np.ndarray | None, size: int
) -> np.ndarray:
    """Indices into ``values`` drawn with ``weights`` (uniform when None)."""
    if weights is None:
        return rng.integers(len(values), size=size)
    cumulative = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cumulative, rng.random(size), side="right"), len(values) - 1)


def _fixed6(values: np.ndarray) -> pa.Array:
    """Non-negative floats as text with six decimals (``f"{x:.6f}"``), built in Arrow rather than per value."""
    micro = np.round(values * 1_000_000).astype(np.int64)
    whole = pc.cast(pa.array(micro // 1_000_000), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(micro % 1_000_000), pa.string()), width=6, padding="0")
    return pc.binary_join_element_wise(whole, fraction, ".")


def generate_table(config: SyntheticConfig, *, start: int, rows: int, rng: np.random.Generator) -> pa.Table:
    """Raw rows ``start`` .. ``start + rows - 1`` of the history, as an Arrow table of strings.

    Drawn a chunk at a time, column by column, so ten million rows take a minute rather than an hour.
    ``rng`` carries on from the previous chunk: the same seed and chunking give the same file.
    """
    couriers = _courier_table(config, np.random.default_rng(config.seed))
    store_lat = np.array([courier["store"][0] for courier in couriers])
    store_lon = np.array([courier["store"][1] for courier in couriers])
    rating = np.array([courier["rating"] for courier in couriers])
    age = np.array([courier["age"] for courier in couriers])
    skill = np.array([courier["skill"] for courier in couriers])

    courier = rng.integers(len(couriers), size=rows)
    day = rng.integers(config.days, size=rows)
    hour = _pick(rng, [str(h) for h in range(24)], ORDER_HOUR_WEIGHTS, rows)
    minute = rng.choice([0, 15, 30, 45], size=rows)
    wait = rng.choice([5, 10, 15], size=rows)
    offset = rng.choice(np.arange(0.01, 0.15, 0.01), size=rows)
    is_quiet = (hour < 11) | (hour >= 23)
    traffic = np.where(
        is_quiet, _pick(rng, TRAFFIC, [0.55, 0.25, 0.1, 0.1], rows), _pick(rng, TRAFFIC, [0.25, 0.25, 0.1, 0.4], rows)
    )
    weather = _pick(rng, WEATHER, None, rows)
    vehicle = _pick(rng, VEHICLES, VEHICLE_WEIGHTS, rows)
    area = _pick(rng, AREAS, AREA_WEIGHTS, rows)
    distance_km = offset * 157.0  # equal offset on both axes, about 111 km per degree, times sqrt(2)
    minutes = (
        14.0
        + 0.9 * distance_km
        + np.array([TRAFFIC_MINUTES[t] for t in TRAFFIC])[traffic]
        + np.array([WEATHER_MINUTES[w] for w in WEATHER])[weather]
        + np.array([VEHICLE_MINUTES[v] for v in VEHICLES])[vehicle]
        + np.array([AREA_MINUTES[a] for a in AREAS])[area]
        + 3.0 * (4.7 - rating[courier])
        + 0.12 * (age[courier] - 30)
        + skill[courier]
        + rng.normal(0, 2.5, size=rows)
    )
    rating_draw = rng.random(rows)
    rating_text = pa.array([f"{value:.1f}" for value in rating]).take(courier)
    rating_text = pc.if_else(rating_draw < config.impossible_rating_share, "6", rating_text)
    is_rating_missing = (rating_draw >= config.impossible_rating_share) & (
        rating_draw < config.impossible_rating_share + config.missing_rating_share
    )
    rating_text = pc.if_else(is_rating_missing, "", rating_text)

    minute_of_day = hour * 60 + minute
    clocks = pa.array([f"{m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60)])
    order_time = pc.if_else(rng.random(rows) < config.missing_order_time_share, "NaN ", clocks.take(minute_of_day))
    pickup_time = clocks.take((minute_of_day + wait) % (24 * 60))
    dates = pa.array([(config.start + dt.timedelta(days=d)).isoformat() for d in range(config.days)])

    is_zero_store = rng.random(rows) < config.zero_store_share
    lat = np.where(is_zero_store, 0.0, store_lat[courier])
    lon = np.where(is_zero_store, 0.0, store_lon[courier])
    store_lat_text = _fixed6(lat)
    is_sign_typo = ~is_zero_store & (rng.random(rows) < config.sign_typo_share)
    store_lat_text = pc.if_else(is_sign_typo, pc.binary_join_element_wise("-", store_lat_text, ""), store_lat_text)
    columns = {
        "order_id": pa.array([f"0x{index:05x} " for index in range(start, start + rows)]),
        "courier_id": pa.array([f"{c['id']} " for c in couriers]).take(courier),
        "courier_age": pa.array([str(a) for a in age]).take(courier),
        "courier_rating": rating_text,
        "store_latitude": store_lat_text,
        "store_longitude": _fixed6(lon),
        "drop_latitude": _fixed6(lat + offset),
        "drop_longitude": _fixed6(lon + offset),
        "order_date": dates.take(day),
        "order_time": order_time,
        "pickup_time": pickup_time,
        "weather": pa.array(WEATHER).take(weather),
        "traffic": pa.array([f"{t} " for t in TRAFFIC]).take(traffic),
        "vehicle": pa.array([f"{v} " for v in VEHICLES]).take(vehicle),
        "area": pa.array([f"{a} " for a in AREAS]).take(area),
        "delivery_minutes": pc.cast(pa.array(np.clip(np.round(minutes), 10, 54).astype(np.int64)), pa.string()),
    }
    return pa.table({name: columns[name] for name in RAW_COLUMNS})


def write_synthetic_file(path: Path, config: SyntheticConfig) -> Path:
    """Write a gzip CSV in the raw schema, a chunk of rows at a time; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Rows are drawn from their own stream, so the courier table (drawn from the seed) is the same in every chunk.
    rng = np.random.default_rng([config.seed, 1])
    # Level 1: synthetic files are scratch data, and the best compression would take longer than the drawing.
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write((",".join(RAW_COLUMNS) + "\n").encode())
        for start in range(0, config.rows, SYNTHETIC_CHUNK_ROWS):
            table = generate_table(config, start=start, rows=min(SYNTHETIC_CHUNK_ROWS, config.rows - start), rng=rng)
            pa_csv.write_csv(table, handle, write_options=_CSV_OPTIONS)
    return path
