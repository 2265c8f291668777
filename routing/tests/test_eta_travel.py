"""Travel times scaled by an ETA model's congestion factor for hour, traffic and weather (no Django)."""

from __future__ import annotations

import numpy as np
import pytest

from core.features import build_training_features
from core.model import ETAPredictor, TrainingConfig
from core.solver.travel import DEFAULT_DETOUR_FACTOR, Point, haversine_km
from core.tests import TIME_ZONE, synthetic_deliveries
from routing.eta_travel import EtaModelTravelTimes

SMALL = TrainingConfig(max_depth=4, quantile_max_depth=3, learning_rate=0.15, max_rounds=80, validation_days=6)
POINTS = [Point(x=77.59 + 0.01 * i, y=12.97 + 0.012 * i) for i in range(8)]


@pytest.fixture(scope="module")
def model() -> ETAPredictor:
    deliveries = synthetic_deliveries(rows=1500, days=24)
    features = build_training_features(deliveries, time_zone=TIME_ZONE)
    return ETAPredictor.train(
        features, deliveries["delivery_minutes"], ordered_at=deliveries["ordered_at"], config=SMALL
    )


def test_minutes_are_haversine_at_the_speed_times_the_models_factor(model: ETAPredictor) -> None:
    provider = EtaModelTravelTimes(model, label="demo/eta v1", speed_kmh=30)
    minutes = provider(POINTS, 9)
    base = haversine_km(POINTS, DEFAULT_DETOUR_FACTOR) / 30 * 60
    assert minutes == pytest.approx(base * provider.congestion_factor(9))
    assert np.all(np.diag(minutes) == 0) and minutes == pytest.approx(minutes.T)
    assert provider.congestion_factor(None) == pytest.approx(1.0)  # noon, conditions unknown: the reference
    assert provider.name == "eta-model:demo/eta v1@30kmh"


def test_worse_traffic_stretches_every_leg(model: ETAPredictor) -> None:
    low = EtaModelTravelTimes(model, label="v", speed_kmh=30, traffic="low")
    jam = EtaModelTravelTimes(model, label="v", speed_kmh=30, traffic="jam", weather="stormy")
    assert jam.congestion_factor(19) > low.congestion_factor(19)
    assert jam(POINTS, 19)[0, 7] > low(POINTS, 19)[0, 7]
    assert jam.name == "eta-model:v@30kmh[traffic=jam,weather=stormy]"
