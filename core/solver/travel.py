"""Travel distance and time matrices.

Distances are great-circle (haversine) kilometres times a detour factor, because straight lines
underestimate road distance. Travel times come from one of two sources:

* haversine distance at a speed profile (km/h per departure-time bucket), the default; or
* a pluggable ``TravelTimeProvider``: any callable ``provider(points, departure_bucket) -> minutes``.
  The Django side plugs in the champion ETA model for the departure-time bucket this way, so the solver
  core never imports Django or the model registry.

The source used is recorded in ``TravelMatrices.source`` and copied into every solution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

EARTH_RADIUS_KM = 6371.0088
DEFAULT_DETOUR_FACTOR = 1.3
"""Road distance / great-circle distance; 1.3 is the usual urban circuity figure."""


@dataclass(frozen=True)
class Point:
    """A location: ``x`` = longitude and ``y`` = latitude in degrees, or planar coordinates for benchmarks."""

    x: float
    y: float


class TravelTimeProvider(Protocol):
    """Callable returning an ``n x n`` matrix of travel minutes between ``points`` for a departure bucket.

    ``departure_bucket`` is whatever the caller's ETA model buckets departures by (e.g. hour of day); the
    solver passes it through untouched. Give the provider a ``name`` attribute to label the source.
    """

    def __call__(self, points: Sequence[Point], departure_bucket: int | None) -> np.ndarray: ...


@dataclass(frozen=True)
class TravelMatrices:
    """Distance and duration between every pair of locations (depots first, then jobs)."""

    distance: np.ndarray
    """Distance units (km for real problems; the benchmark convention for instances)."""
    duration: np.ndarray
    """Minutes (or the instance's time unit)."""
    source: str
    """Where the durations came from, e.g. ``haversine@30kmh`` or the provider's name."""


@dataclass(frozen=True)
class SpeedProfile:
    """Average road speed in km/h, optionally per departure bucket (rush hour is slower)."""

    default_kmh: float = 30.0
    kmh_by_bucket: Mapping[int, float] = field(default_factory=dict)

    def speed_for(self, departure_bucket: int | None) -> float:
        """Speed in km/h for the bucket, falling back to ``default_kmh``."""
        if departure_bucket is None:
            return self.default_kmh
        return self.kmh_by_bucket.get(departure_bucket, self.default_kmh)


def haversine_km(points: Sequence[Point], detour_factor: float = DEFAULT_DETOUR_FACTOR) -> np.ndarray:
    """Great-circle distance matrix in km between (lon, lat) points, scaled by ``detour_factor``."""
    lon = np.radians(np.array([p.x for p in points], dtype=float))
    lat = np.radians(np.array([p.y for p in points], dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * detour_factor


@dataclass(frozen=True)
class HaversineTravelTimes:
    """The default provider: haversine distance divided by the profile's speed for the bucket."""

    profile: SpeedProfile = SpeedProfile()
    detour_factor: float = DEFAULT_DETOUR_FACTOR

    @property
    def name(self) -> str:
        """Label recorded in solutions."""
        return f"haversine@{self.profile.default_kmh:g}kmh"

    def __call__(self, points: Sequence[Point], departure_bucket: int | None) -> np.ndarray:
        """Minutes between every pair of points."""
        speed = self.profile.speed_for(departure_bucket)
        return haversine_km(points, self.detour_factor) / speed * 60.0


def provider_name(provider: TravelTimeProvider) -> str:
    """The label of a provider: its ``name`` attribute, else its qualified name."""
    name = getattr(provider, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(provider, "__qualname__", type(provider).__qualname__)


def build_travel_matrices(
    points: Sequence[Point],
    *,
    provider: TravelTimeProvider | None = None,
    departure_bucket: int | None = None,
    speed_kmh: float = 30.0,
) -> TravelMatrices:
    """Distance (haversine km) and duration matrices for ``points``.

    Durations come from ``provider`` when given (validated: square, finite, non-negative), else from
    ``HaversineTravelTimes`` at ``speed_kmh``.
    """
    if provider is None:
        provider = HaversineTravelTimes(SpeedProfile(default_kmh=speed_kmh))
    duration = np.asarray(provider(points, departure_bucket), dtype=float)
    size = len(points)
    name = provider_name(provider)
    if duration.shape != (size, size):
        raise ValueError(f"travel-time provider {name} returned shape {duration.shape}, expected {(size, size)}")
    if not np.all(np.isfinite(duration)) or np.any(duration < 0):
        raise ValueError(f"travel-time provider {name} returned negative or non-finite minutes")
    source = name if departure_bucket is None else f"{name}[bucket={departure_bucket}]"
    return TravelMatrices(distance=haversine_km(points), duration=duration, source=source)
