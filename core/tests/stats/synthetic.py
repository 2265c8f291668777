"""Synthetic delivery-like windows for the statistics tests, and the binomial slack of simulated rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

NUMERIC = ["distance_km", "prep_minutes", "courier_load"]
CATEGORICAL = ["weather"]
PREDICTION = "predicted_eta"
WEATHER_LEVELS = ["sunny", "cloudy", "rainy", "stormy"]
WEATHER_SHARES = [0.5, 0.3, 0.15, 0.05]


def delivery_window(
    rng: np.random.Generator,
    rows: int,
    *,
    distance_shift_sd: float = 0.0,
    weather_shares: list[float] | None = None,
    eta_shift_minutes: float = 0.0,
) -> pd.DataFrame:
    """A window of orders: skewed distance, normal prep time, integer-valued load, a weather mix and an ETA
    that depends on distance (as a real model's would). Shifts are in the feature's own standard deviations."""
    distance = rng.gamma(shape=4.0, scale=1.0, size=rows) + distance_shift_sd * 2.0  # gamma(4, 1) has sd 2
    prep = rng.normal(12.0, 3.0, size=rows)
    load = rng.normal(3.0, 1.0, size=rows)
    weather = rng.choice(WEATHER_LEVELS, p=weather_shares or WEATHER_SHARES, size=rows)
    eta = 10.0 + 3.0 * distance + 0.5 * prep + rng.normal(0.0, 2.0, size=rows) + eta_shift_minutes
    return pd.DataFrame(
        {"distance_km": distance, "prep_minutes": prep, "courier_load": load, "weather": weather, PREDICTION: eta}
    )


def correlated_pair(rng: np.random.Generator, rows: int, correlation: float) -> pd.DataFrame:
    """Two standard normal features with the given correlation: the marginals never change with it."""
    covariance = [[1.0, correlation], [correlation, 1.0]]
    values = rng.multivariate_normal([0.0, 0.0], covariance, size=rows)
    return pd.DataFrame({"x": values[:, 0], "y": values[:, 1]})


def binomial_upper_bound(trials: int, rate: float, confidence: float = 0.999) -> float:
    """The highest share of `trials` that a true `rate` produces with probability `confidence`: the slack a
    simulated false-alarm rate may show above its nominal rate without meaning the method is miscalibrated."""
    return float(stats.binom.ppf(confidence, trials, rate) / trials)
