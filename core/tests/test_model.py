"""ETAPredictor: determinism, integrity, calibration, OOD flags and explanations on a small model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.features import ORDER_FEATURES, build_training_features
from core.model import (
    QUANTILE_NAMES,
    ArtifactIntegrityError,
    ETAPredictor,
    TrainingConfig,
    _encode_frame,
    _interval_holding_point,
    default_candidates,
    feature_specs,
    quantile_fit_sample,
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
    widths = np.array([0.0, 5.0, 15.0, 1000.0])
    intervals = np.column_stack([np.zeros(4), widths / 4, widths / 2, widths * 3 / 4, widths])
    confidence = model._confidence(intervals, np.zeros(4, dtype=np.int64))
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


# A vector of the fixture's feature space: every numeric feature anywhere from far below to far above what
# training saw (a 400 km order included), every categorical feature a seen level, an unseen one or missing.
def _vectors(model: ETAPredictor) -> st.SearchStrategy[dict[str, object]]:
    fields: dict[str, st.SearchStrategy[object]] = {}
    for spec in model.features:
        if spec.levels:
            fields[spec.name] = st.sampled_from([*spec.levels, "never-seen", None])
        else:
            fields[spec.name] = st.one_of(st.none(), st.floats(min_value=-1e4, max_value=1e4, allow_nan=False))
    return st.fixed_dictionaries(fields)


def test_the_point_eta_always_lies_inside_its_own_interval(model: ETAPredictor) -> None:
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(vectors=st.lists(_vectors(model), min_size=1, max_size=8))
    def check(vectors: list[dict[str, object]]) -> None:
        for prediction in model.predict_many(vectors):
            q = prediction.quantiles
            assert q.p05 <= q.p25 <= q.p50 <= q.p75 <= q.p95
            assert q.p05 <= prediction.eta_minutes <= q.p95
            assert 0.0 <= prediction.confidence <= 1.0
        batch = model.predict_frame(pd.DataFrame(vectors, columns=list(model.feature_names)))
        assert np.all(batch.quantile("p05") <= batch.eta_minutes) and np.all(batch.eta_minutes <= batch.quantile("p95"))

    check()


def test_confidence_falls_with_every_feature_out_of_distribution(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    _, features = data
    numeric = [n for n in model.feature_names if n in model.numeric_bounds and n not in model.unchecked_features]

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(row=st.integers(min_value=0, max_value=len(features) - 1), far=st.sampled_from(numeric))
    def check(row: int, far: str) -> None:
        vector = {name: (None if pd.isna(v) else v) for name, v in features.iloc[row].items()}
        moved = {**vector, far: model.numeric_bounds[far].upper + 1000.0}
        inside, outside = model.predict_many([vector, moved])
        assert far in {flag.feature for flag in outside.out_of_range}
        # However narrow its interval, an order out of range is at most 1 / (1 + flags) sure: never above 0.5.
        assert outside.confidence <= 1.0 / (1 + len(outside.out_of_range)) <= 0.5
        assert len(outside.out_of_range) > len(inside.out_of_range)

    check()


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(min_value=-500, max_value=500, allow_nan=False),
            st.lists(st.floats(min_value=-500, max_value=500, allow_nan=False), min_size=5, max_size=5),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_the_interval_stretches_to_hold_the_point_and_changes_nothing_else(rows) -> None:  # type: ignore[no-untyped-def]
    eta = np.array([point for point, _ in rows])
    quantiles = np.sort(np.array([levels for _, levels in rows]), axis=1)

    held = _interval_holding_point(eta, quantiles)

    assert np.all(held[:, 0] <= eta) and np.all(eta <= held[:, -1])
    assert np.all(np.diff(held, axis=1) >= 0)
    assert np.array_equal(held[:, 1:-1], quantiles[:, 1:-1])
    inside = (quantiles[:, 0] <= eta) & (eta <= quantiles[:, -1])
    assert np.array_equal(held[inside], quantiles[inside])


def test_a_sampled_quantile_booster_on_two_threads_is_byte_identical_run_to_run(
    data: tuple[pd.DataFrame, pd.DataFrame], model: ETAPredictor
) -> None:
    deliveries, features = data
    sampled = replace(SMALL, nthread=2, quantile_fit_rows=400)

    def train() -> ETAPredictor:
        return ETAPredictor.train(
            features, deliveries["delivery_minutes"], ordered_at=deliveries["ordered_at"], config=sampled
        )

    first, second = train(), train()
    assert first.to_bytes() == second.to_bytes()
    assert first.sha256 != model.sha256  # the sample and the thread count are part of what was trained
    assert first.summary.fit_rows == model.summary.fit_rows > 400  # the point booster still sees every row
    assert 0.85 <= first.calibration.calibrated_coverage <= 0.95  # calibrated on the whole validation window
    assert first.config.as_dict()["quantile_fit_rows"] == 400


def test_configs_without_the_added_fields_keep_their_recorded_form() -> None:
    # A version trained before `quantile_fit_rows` existed recorded parameters without it; reading them
    # back must give the same parameters, so its artifact bytes (which embed them) are unchanged.
    recorded = TrainingConfig().as_dict()
    assert "quantile_fit_rows" not in recorded
    assert TrainingConfig.from_dict(recorded).as_dict() == recorded
    assert TrainingConfig.from_dict(recorded).quantile_fit_rows is None
    sampled = replace(TrainingConfig(), quantile_fit_rows=1000).as_dict()
    assert TrainingConfig.from_dict(sampled).quantile_fit_rows == 1000
    with pytest.raises(ValueError, match="quantile_fit_rows"):
        TrainingConfig(quantile_fit_rows=0)


def test_new_versions_use_two_threads_and_a_bounded_quantile_sample() -> None:
    assert {(config.nthread, config.quantile_fit_rows) for config in default_candidates()} == {(2, 200_000)}
    assert {config.quantile_fit_rows for config in default_candidates(sample_quantile_fit=False)} == {None}


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=5000),
    limit=st.integers(min_value=20, max_value=3000),
    seed=st.integers(0, 99),
)
def test_the_quantile_sample_is_a_seeded_ordered_subset(rows: int, limit: int, seed: int) -> None:
    config = TrainingConfig(quantile_fit_rows=limit, seed=seed)
    sample = quantile_fit_sample(rows, config)
    if rows <= limit:
        assert sample is None
        return
    assert sample is not None
    assert len(sample) == limit and len(np.unique(sample)) == limit
    assert np.all(np.diff(sample) > 0) and sample[0] >= 0 and sample[-1] < rows
    np.testing.assert_array_equal(sample, quantile_fit_sample(rows, config))
    assert quantile_fit_sample(rows, TrainingConfig()) is None


def test_encoding_some_rows_equals_encoding_all_then_selecting(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, features = data
    specs = feature_specs(TrainingConfig())
    rows = np.arange(len(features)) % 3 == 1
    np.testing.assert_array_equal(_encode_frame(features, specs, rows=rows), _encode_frame(features, specs)[rows])
