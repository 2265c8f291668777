"""Travel times shaped by the tenant's ETA model, as a routing `TravelTimeProvider` (plain Python, no Django).

The ETA model predicts a whole delivery (kitchen wait, pickup, ride) from an order's features; on the
bundled history distance explains little of it, so the model's distance curve is no road speed. What it
does know is how the time of day and the traffic and weather change a delivery. Travel minutes are
therefore straight-line distance at the plan's base speed, scaled by the model's congestion factor:

    factor = mean ETA over a grid of distances at (departure hour, traffic, weather)
             / mean ETA over the same distances at noon with traffic and weather unknown

so a jam at 19:00 stretches every leg by what the model learned a jam at 19:00 costs a delivery.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.features import FEATURES, FeatureKind
from core.model import ETAPredictor
from core.solver.travel import DEFAULT_DETOUR_FACTOR, Point, haversine_km

# Distances (km) the factor is averaged over: the range of typical urban legs.
FACTOR_DISTANCES_KM = (1.0, 3.0, 5.0, 8.0, 12.0)
REFERENCE_HOUR = 12  # also the departure hour used when a plan has no shift start


class EtaModelTravelTimes:
    """Minutes between points for a departure hour (the bucket), scaled by the ETA model's congestion."""

    def __init__(
        self,
        predictor: ETAPredictor,
        *,
        label: str,
        speed_kmh: float,
        traffic: str | None = None,
        weather: str | None = None,
    ) -> None:
        self.predictor = predictor
        self.speed_kmh = speed_kmh
        self.context = {"traffic": traffic, "weather": weather}
        conditions = ",".join(f"{key}={value}" for key, value in self.context.items() if value)
        # The solver appends the departure bucket to this label in the plan's travel_source.
        self.name = f"eta-model:{label}@{speed_kmh:g}kmh" + (f"[{conditions}]" if conditions else "")

    def congestion_factor(self, departure_bucket: int | None) -> float:
        hour = float(REFERENCE_HOUR if departure_bucket is None else departure_bucket % 24)
        reference = self.predictor.predict_frame(_feature_rows(float(REFERENCE_HOUR), {})).eta_minutes.mean()
        current = self.predictor.predict_frame(_feature_rows(hour, self.context)).eta_minutes.mean()
        return float(current / reference)

    def __call__(self, points: Sequence[Point], departure_bucket: int | None) -> np.ndarray:
        minutes = haversine_km(points, DEFAULT_DETOUR_FACTOR) / self.speed_kmh * 60.0
        return minutes * self.congestion_factor(departure_bucket)


def _feature_rows(hour: float, context: dict[str, str | None]) -> pd.DataFrame:
    """One feature row per factor distance: distance, hour and the given conditions known, the rest missing."""
    count = len(FACTOR_DISTANCES_KM)
    rows: dict[str, list[object]] = {}
    for feature in FEATURES:
        missing: object = None if feature.kind is FeatureKind.CATEGORICAL else math.nan
        rows[feature.name] = [context.get(feature.name, missing)] * count
    rows["distance_km"] = list(FACTOR_DISTANCES_KM)
    rows["has_usable_coordinates"] = [1.0] * count
    rows["order_hour"] = [hour] * count
    return pd.DataFrame(rows)
