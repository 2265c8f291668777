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

import csv
import datetime as dt
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def _courier_table(config: SyntheticConfig, rng: np.random.Generator) -> list[dict[str, object]]:
    couriers = []
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


def generate_rows(config: SyntheticConfig) -> Iterator[dict[str, str]]:
    """Yield raw rows (strings, as a CSV reader would produce them) for `config.rows` deliveries."""
    rng = np.random.default_rng(config.seed)
    couriers = _courier_table(config, rng)
    hour_p = ORDER_HOUR_WEIGHTS / ORDER_HOUR_WEIGHTS.sum()
    for index in range(config.rows):
        courier = couriers[int(rng.integers(len(couriers)))]
        day = config.start + dt.timedelta(days=int(rng.integers(config.days)))
        ordered = dt.datetime.combine(day, dt.time(int(rng.choice(24, p=hour_p)), int(rng.choice([0, 15, 30, 45]))))
        wait = int(rng.choice([5, 10, 15]))
        picked = ordered + dt.timedelta(minutes=wait)
        offset = float(rng.choice(np.arange(0.01, 0.15, 0.01)))
        store_lat, store_lon = courier["store"]
        hour = ordered.hour
        traffic_p = [0.55, 0.25, 0.1, 0.1] if hour < 11 or hour >= 23 else [0.25, 0.25, 0.1, 0.4]
        traffic = str(rng.choice(TRAFFIC, p=traffic_p))
        weather = str(rng.choice(WEATHER))
        vehicle = str(rng.choice(VEHICLES, p=VEHICLE_WEIGHTS))
        area = str(rng.choice(AREAS, p=AREA_WEIGHTS))
        distance_km = offset * 157.0  # equal offset on both axes, about 111 km per degree, times sqrt(2)
        minutes = (
            14.0
            + 0.9 * distance_km
            + TRAFFIC_MINUTES[traffic]
            + WEATHER_MINUTES[weather]
            + VEHICLE_MINUTES[vehicle]
            + AREA_MINUTES[area]
            + 3.0 * (4.7 - float(courier["rating"]))
            + 0.12 * (int(courier["age"]) - 30)
            + float(courier["skill"])
            + rng.normal(0, 2.5)
        )
        rating_text = f"{courier['rating']:.1f}"
        draw = rng.random()
        if draw < config.impossible_rating_share:
            rating_text = "6"
        elif draw < config.impossible_rating_share + config.missing_rating_share:
            rating_text = ""
        order_time_text = ordered.strftime("%H:%M:%S")
        if rng.random() < config.missing_order_time_share:
            order_time_text = "NaN "
        store = (store_lat, store_lon)
        if rng.random() < config.zero_store_share:
            store = (0.0, 0.0)
        drop = (store[0] + offset, store[1] + offset)
        store_text = [f"{store[0]:.6f}", f"{store[1]:.6f}"]
        if store != (0.0, 0.0) and rng.random() < config.sign_typo_share:
            store_text[0] = "-" + store_text[0]
        yield {
            "order_id": f"0x{index:05x} ",
            "courier_id": f"{courier['id']} ",
            "courier_age": str(courier["age"]),
            "courier_rating": rating_text,
            "store_latitude": store_text[0],
            "store_longitude": store_text[1],
            "drop_latitude": f"{drop[0]:.6f}",
            "drop_longitude": f"{drop[1]:.6f}",
            "order_date": ordered.date().isoformat(),
            "order_time": order_time_text,
            "pickup_time": picked.strftime("%H:%M:%S"),
            "weather": weather,
            "traffic": f"{traffic} ",
            "vehicle": f"{vehicle} ",
            "area": f"{area} ",
            "delivery_minutes": str(int(np.clip(round(minutes), 10, 54))),
        }


def write_synthetic_file(path: Path, config: SyntheticConfig) -> Path:
    """Write a gzip CSV in the raw schema; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RAW_COLUMNS)
        writer.writeheader()
        writer.writerows(generate_rows(config))
    return path
