"""ETAPredictor: determinism, integrity, calibration, OOD flags and explanations on a small model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.features import ORDER_FEATURES, build_training_features
from core.model import (
    QUANTILE_NAMES,
    ArtifactIntegrityError,
    ETAPredictor,
    TrainingConfig,
    train_best_of,
)
from core.tests import TIME_ZONE, synthetic_deliveries

SMALL = TrainingConfig(
    max_depth=4, quantile_max_depth=3, learning_rate=0.15, max_rounds=80, early_stopping_rounds=10, validation_days=6
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    deliveries = synthetic_deliveries(rows=1500, days=24)
    return deliveries, build_training_features(deliveries, time_zone=TIME_ZONE)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, pd.DataFrame]) -> ETAPredictor:
    deliveries, features = data
    return ETAPredictor.train(
        features, deliveries["delivery_minutes"], ordered_at=deliveries["ordered_at"], config=SMALL
    )


def test_same_data_and_params_give_a_byte_identical_artifact(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    deliveries, features = data
    again = ETAPredictor.train(
        features, deliveries["delivery_minutes"], ordered_at=deliveries["ordered_at"], config=SMALL
    )
    assert again.to_bytes() == model.to_bytes()
    assert again.sha256 == model.sha256


def test_artifact_round_trip_and_is_self_describing(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    _, features = data
    loaded = ETAPredictor.from_bytes(model.to_bytes(), expected_sha256=model.sha256)

    document = json.loads(model.to_bytes())
    assert [feature["name"] for feature in document["features"]] == list(model.feature_names)
    assert document["features"][model.feature_names.index("traffic")]["levels"] == ["low", "medium", "high", "jam"]
    assert {"ood", "calibration", "booster_params", "explanation", "training_config"} <= set(document)
    np.testing.assert_array_equal(loaded.predict_frame(features).quantiles, model.predict_frame(features).quantiles)


def test_a_tampered_or_mismatched_artifact_is_refused(model: ETAPredictor) -> None:
    data = model.to_bytes()
    with pytest.raises(ArtifactIntegrityError, match="expected"):
        ETAPredictor.from_bytes(data, expected_sha256="0" * 64)
    tampered = data.replace(b'"top_k":5', b'"top_k":9')
    with pytest.raises(ArtifactIntegrityError):
        ETAPredictor.from_bytes(tampered, expected_sha256=model.sha256)


def test_quantiles_are_ordered_and_calibrated_on_validation(model: ETAPredictor) -> None:
    calibration = model.calibration
    assert 0.88 <= calibration.calibrated_coverage <= 0.93
    assert 0.45 <= calibration.calibrated_inner_coverage <= 0.56
    assert model.summary.validation_rows > 0 and model.summary.fit_rows > model.summary.validation_rows


def test_single_row_equals_batch_and_explanation_sums_to_the_eta(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    _, features = data
    batch = model.predict_frame(features.iloc[:20])
    for position, vector in enumerate(features.iloc[:20].to_dict(orient="records")):
        prediction = model.predict(vector)

        assert prediction.eta_minutes == pytest.approx(batch.eta_minutes[position], abs=1e-6)
        quantiles = [getattr(prediction.quantiles, name) for name in QUANTILE_NAMES]
        assert quantiles == sorted(quantiles)
        assert quantiles == pytest.approx(list(batch.quantiles[position]), abs=1e-6)
        assert 0.0 <= prediction.confidence <= 1.0
        explanation = prediction.explanation
        assert explanation is not None and len(explanation.top) == SMALL.explanation_top_k
        total = explanation.base_minutes + sum(c.minutes for c in explanation.top) + explanation.other_minutes
        assert total == pytest.approx(prediction.eta_minutes, abs=1e-3)
        magnitudes = [abs(c.minutes) for c in explanation.top]
        assert magnitudes == sorted(magnitudes, reverse=True)


def test_explained_unexplained_and_frame_predictions_are_bit_identical(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    # Explained predictions read one DMatrix, the others inplace_predict: replay compares floats exactly.
    _, features = data
    rows = features.iloc[:200]
    batch = model.predict_frame(rows)
    for position, vector in enumerate(rows.to_dict(orient="records")):
        explained, plain = model.predict(vector), model.predict(vector, explain=False)

        assert explained.eta_minutes == plain.eta_minutes == batch.eta_minutes[position]
        assert explained.quantiles == plain.quantiles
        assert [getattr(explained.quantiles, name) for name in QUANTILE_NAMES] == list(batch.quantiles[position])
        assert explained.confidence == plain.confidence == batch.confidence[position]


def test_confidence_falls_as_the_interval_widens(model: ETAPredictor) -> None:
    confidence = model._confidence(np.array([0.0, 5.0, 15.0, 1000.0]))
    assert confidence[0] == 1.0 and confidence[-1] == 0.0
    assert np.all(np.diff(confidence) <= 0)


def test_out_of_range_names_the_features(data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor) -> None:
    _, features = data
    vector = features.iloc[100].to_dict()
    assert model.predict(vector, explain=False).is_in_distribution

    vector.update(distance_km=250.0, courier_age=-3.0, area="semi_urban", traffic="gridlock", courier_rating=None)
    prediction = model.predict(vector, explain=False)

    flagged = {feature.feature: feature.reason for feature in prediction.out_of_range}
    assert set(flagged) == {"distance_km", "courier_age", "area", "traffic"}
    assert "above" in flagged["distance_km"] and "below" in flagged["courier_age"]
    assert "not seen in training" in flagged["area"]


def test_best_of_keeps_the_lower_validation_mae(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    deliveries, features = data
    order_only = tuple(feature.name for feature in ORDER_FEATURES)
    no_signal = ("day_of_week", "courier_age")
    candidates = (
        replace(SMALL, feature_names=no_signal),
        replace(SMALL, feature_names=order_only),
    )

    best, tried = train_best_of(
        features, deliveries["delivery_minutes"], ordered_at=deliveries["ordered_at"], candidates=candidates
    )

    assert best.feature_names == order_only
    assert tried[1].validation_mae < tried[0].validation_mae


def test_training_refuses_unknown_features_and_too_little_history(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    deliveries, features = data
    with pytest.raises(ValueError, match="unknown feature"):
        TrainingConfig(feature_names=("courier_shoe_size",))
    with pytest.raises(ValueError, match="validation window"):
        ETAPredictor.train(
            features.iloc[:30],
            deliveries["delivery_minutes"].iloc[:30],
            ordered_at=deliveries["ordered_at"].iloc[:30],
            config=SMALL,
        )


def test_batch_contributions_sum_to_each_rows_eta(data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor) -> None:
    _, features = data
    contributions = model.contributions(features.iloc[:50])
    batch = model.predict_frame(features.iloc[:50])
    assert list(contributions.columns) == [*model.feature_names, "base"]
    assert contributions.sum(axis=1).to_numpy() == pytest.approx(batch.eta_minutes, abs=1e-3)
