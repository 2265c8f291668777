"""Time-series cross-validation: whole-day folds without label leaks, and the scikit-learn ETA adapter."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import cross_validate
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from core.delivery.schema import load_clean_frame
from core.features import FEATURE_NAMES, build_features, build_training_features
from core.model import ETAPredictor, TrainingConfig
from core.tests import REAL_DATA, TIME_ZONE, synthetic_deliveries
from core.validation import (
    CV_SCORING,
    ETARegressor,
    TimeSeriesDaySplit,
    point_error_shares,
    time_series_folds,
    training_feature_leaks,
    training_label_leaks,
)

SMALL = TrainingConfig(max_depth=4, learning_rate=0.15, max_rounds=80, early_stopping_rounds=10, validation_days=4)
DELIVERIES = synthetic_deliveries(rows=1500, days=24)
FEATURES = build_training_features(DELIVERIES, time_zone=TIME_ZONE)
LOCAL_DAY = DELIVERIES["ordered_at"].dt.tz_convert(TIME_ZONE).dt.normalize()
COMPLETED_AT = DELIVERIES["ordered_at"] + pd.to_timedelta(DELIVERIES["delivery_minutes"], unit="min")


def _folds(**kwargs: object) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(
        time_series_folds(
            DELIVERIES["ordered_at"], delivery_minutes=DELIVERIES["delivery_minutes"], time_zone=TIME_ZONE, **kwargs
        )
    )


@settings(max_examples=40, deadline=None)
@given(
    folds=st.integers(1, 4),
    test_days=st.integers(1, 4),
    min_train_days=st.integers(1, 6),
    embargo_minutes=st.sampled_from([0, 30, 90, 24 * 60]),
)
def test_folds_are_whole_ordered_days_and_train_only_on_labels_known_before_them(
    folds: int, test_days: int, min_train_days: int, embargo_minutes: int
) -> None:
    embargo = pd.Timedelta(minutes=embargo_minutes)
    result = _folds(folds=folds, test_days=test_days, min_train_days=min_train_days, embargo=embargo)

    assert len(result) == folds
    last_day = LOCAL_DAY.max()
    previous_end = None
    for index, (train, test) in enumerate(result):
        start = last_day - pd.Timedelta(days=(folds - index) * test_days - 1)
        # Whole local days: the test rows are exactly every delivery ordered on the block's days.
        in_block = ((start <= LOCAL_DAY) & (start + pd.Timedelta(days=test_days) > LOCAL_DAY)).to_numpy()
        np.testing.assert_array_equal(test, np.flatnonzero(in_block))
        assert previous_end is None or start == previous_end
        previous_end = start + pd.Timedelta(days=test_days)
        # Expanding window: every label known before the cut is trained on, and no later one.
        cut = start - embargo
        np.testing.assert_array_equal(train, np.flatnonzero((cut > COMPLETED_AT).to_numpy()))
        assert not np.intersect1d(train, test).size
        assert training_label_leaks(DELIVERIES["ordered_at"], DELIVERIES["delivery_minutes"], train, test).size == 0
    tests = np.concatenate([test for _, test in result])
    assert len(np.unique(tests)) == len(tests)


def test_a_split_on_order_time_alone_leaks_labels_and_the_check_finds_them() -> None:
    (train, test), *_ = _folds(folds=1, test_days=3, min_train_days=5)
    first_test_order = DELIVERIES["ordered_at"].iloc[test].min()
    naive_train = np.flatnonzero((DELIVERIES["ordered_at"] < first_test_order).to_numpy())

    leaks = training_label_leaks(DELIVERIES["ordered_at"], DELIVERIES["delivery_minutes"], naive_train, test)

    # Orders placed late on the day before the fold were delivered inside it.
    assert leaks.size > 0
    assert set(leaks) == set(naive_train) - set(train)
    assert (COMPLETED_AT.iloc[leaks] >= first_test_order).all()


def test_features_computed_once_equal_features_from_each_folds_training_rows_alone() -> None:
    for train, _ in _folds(folds=3, test_days=3, min_train_days=5):
        assert training_feature_leaks(DELIVERIES, FEATURES, train, time_zone=TIME_ZONE) == []


def test_a_planted_label_from_the_test_period_in_a_training_feature_is_caught() -> None:
    (train, test), *_ = _folds(folds=1, test_days=3, min_train_days=5)
    planted = FEATURES.copy()
    shifted = train[-len(test) :] if len(test) <= len(train) else train
    column = planted.columns.get_loc("courier_recent_mean_minutes")
    planted.iloc[shifted, column] = DELIVERIES["delivery_minutes"].to_numpy(dtype=np.float64)[test][: len(shifted)]

    assert training_feature_leaks(DELIVERIES, planted, train, time_zone=TIME_ZONE) == ["courier_recent_mean_minutes"]


def test_history_features_that_count_deliveries_at_order_time_are_caught() -> None:
    """A builder that treats a delivery's label as known when it was ordered, not when it completed."""
    (train, _), *_ = _folds(folds=1, test_days=3, min_train_days=5)
    # Completion (ordered_at + minutes) moved back to the order time: later-completed labels become visible.
    known_at_order = DELIVERIES.assign(
        ordered_at=DELIVERIES["ordered_at"] - pd.to_timedelta(DELIVERIES["delivery_minutes"], unit="min")
    )
    leaky = build_features(DELIVERIES, history=known_at_order, time_zone=TIME_ZONE)

    leaks = training_feature_leaks(DELIVERIES, leaky, train, time_zone=TIME_ZONE)

    assert leaks
    history_features = ("_completed_count", "_mean_minutes", "_std_minutes", "_hours_since_last")
    assert set(leaks) <= {name for name in FEATURE_NAMES if name.endswith(history_features)}


def test_a_fold_starting_on_a_day_whose_midnight_dst_skips_is_still_a_whole_day() -> None:
    # Sao Paulo sprang forward at midnight on 2018-11-04: that day began at 01:00.
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    ordered_at = pd.Series(pd.date_range("2018-10-20", "2018-11-06", freq="37min", tz=sao_paulo, inclusive="left"))
    minutes = np.full(len(ordered_at), 30.0)

    (train, test), _ = time_series_folds(
        ordered_at, delivery_minutes=minutes, time_zone=sao_paulo, folds=2, test_days=1, min_train_days=3
    )

    day_start = pd.Timestamp("2018-11-04 01:00", tz=sao_paulo)
    on_the_day = (ordered_at >= day_start) & (ordered_at.dt.day == 4)
    np.testing.assert_array_equal(test, np.flatnonzero(on_the_day.to_numpy()))
    completed = ordered_at + pd.Timedelta(minutes=30)
    np.testing.assert_array_equal(train, np.flatnonzero((completed < day_start).to_numpy()))


def test_a_history_too_short_for_the_folds_or_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        _folds(folds=4, test_days=7, min_train_days=7)
    with pytest.raises(ValueError, match="naive"):
        list(
            time_series_folds(
                DELIVERIES["ordered_at"].dt.tz_localize(None),
                delivery_minutes=DELIVERIES["delivery_minutes"],
                time_zone=TIME_ZONE,
                folds=1,
                test_days=1,
                min_train_days=1,
            )
        )


def test_the_splitter_yields_the_folds_and_refuses_an_x_of_another_length() -> None:
    splitter = TimeSeriesDaySplit(
        DELIVERIES["ordered_at"], DELIVERIES["delivery_minutes"], time_zone=TIME_ZONE, folds=2, test_days=3
    )
    expected = _folds(folds=2, test_days=3, min_train_days=14)

    assert splitter.get_n_splits() == 2
    for (train, test), (want_train, want_test) in zip(splitter.split(FEATURES), expected, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)
    with pytest.raises(ValueError, match="rows"):
        list(splitter.split(FEATURES.iloc[:10]))


def test_point_error_shares_exact_values() -> None:
    shares = point_error_shares([10.0, 20.0, 40.0], [12.0, 20.0, 30.0])

    assert shares.mape == pytest.approx((0.2 + 0.0 + 0.25) / 3)
    assert (shares.within_3_min, shares.within_5_min, shares.within_10_min) == (2 / 3, 2 / 3, 1.0)
    with pytest.raises(ValueError, match="positive"):
        point_error_shares([0.0, 10.0], [1.0, 10.0])


def test_the_regressor_follows_scikit_learn_parameter_conventions() -> None:
    regressor = ETARegressor.from_config(SMALL)

    assert clone(regressor).get_params() == regressor.get_params()
    assert regressor.get_params()["learning_rate"] == SMALL.learning_rate
    check_no_attributes_set_in_init("ETARegressor", ETARegressor())
    check_parameters_default_constructible("ETARegressor", ETARegressor())
    check_get_params_invariance("ETARegressor", regressor)
    check_set_params("ETARegressor", regressor)


def test_the_regressors_predictions_are_the_core_models_point_etas_bit_for_bit() -> None:
    y = DELIVERIES["delivery_minutes"]
    predictor = ETAPredictor.train(FEATURES, y, ordered_at=DELIVERIES["ordered_at"], config=SMALL)
    regressor = ETARegressor.from_config(SMALL).fit(FEATURES.assign(ordered_at=DELIVERIES["ordered_at"]), y)

    np.testing.assert_array_equal(regressor.predict(FEATURES), predictor.predict_frame(FEATURES).eta_minutes)
    assert regressor.booster_.num_boosted_rounds() == predictor.summary.point_rounds
    with pytest.raises(ValueError, match="ordered_at"):
        ETARegressor.from_config(SMALL).fit(FEATURES, y)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA.exists(), reason=f"bundled history absent: {REAL_DATA}")
def test_cross_validate_runs_the_regressor_on_the_bundled_file_without_leaks() -> None:
    deliveries, _ = load_clean_frame(REAL_DATA, time_zone=TIME_ZONE)
    features = build_training_features(deliveries, time_zone=TIME_ZONE)
    splitter = TimeSeriesDaySplit(
        deliveries["ordered_at"], deliveries["delivery_minutes"], time_zone=TIME_ZONE, folds=3, test_days=7
    )

    scores = cross_validate(
        ETARegressor.from_config(SMALL),
        features.assign(ordered_at=deliveries["ordered_at"]),
        deliveries["delivery_minutes"],
        cv=splitter,
        scoring=CV_SCORING,
    )

    mae = -scores["test_mae"]
    assert mae.shape == (3,)
    # The bundled file's plain-XGBoost baseline is about 3.6 minutes; a fold far off means a broken split.
    assert np.all((mae > 2.5) & (mae < 5.0)), mae
    assert np.all((scores["test_within_5_min"] > 0.5) & (scores["test_within_5_min"] <= 1.0))
    for train, _ in splitter.split(features):
        assert training_feature_leaks(deliveries, features, train, time_zone=TIME_ZONE) == []
