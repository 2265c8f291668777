"""Time-series cross-validation of ETA models and a scikit-learn adapter of the point booster.

Rolling origin over whole local days: each fold tests on a block of ``test_days`` consecutive local days
and trains on every delivery whose label (its duration) was known before that block began, i.e. completed
at least ``embargo`` before the block's first local midnight. Cutting training rows on the order time
alone would leak: an order placed at 23:50 and delivered at 00:30 carries a duration observed inside the
test period.

The history features need no recomputation per fold. `core.features.build_training_features` gives each
order only the deliveries completed strictly before it was ordered; every such delivery of a training row
completed before the row did, hence before the fold's cut, so it is itself a training row. Features
computed once over the whole history therefore equal features computed from the fold's training rows
alone; `training_feature_leaks` checks exactly that, and the tests plant a leak it must find.

`ETARegressor` wraps the point booster of `core.model` in scikit-learn's estimator conventions, so
`sklearn.model_selection.cross_validate` (and search tools built on it) run it with `TimeSeriesDaySplit`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from dataclasses import asdict, dataclass, fields
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_is_fitted

from core.features import FEATURE_NAMES, build_features
from core.model import TrainingConfig, _encode_frame, _point_stage, feature_specs

# The adapter's X carries each row's order time in this column beside the features: the point booster's
# validation window (early stopping) is the last `validation_days` of the fit rows' order times.
ORDERED_AT_COLUMN = "ordered_at"
WITHIN_MINUTES_THRESHOLDS = (3.0, 5.0, 10.0)
# Completion before the test block's first midnight is enough to rule out label leakage; a positive embargo
# also drops the deliveries completed just before it (a margin against clock skew in imported times).
NO_EMBARGO = pd.Timedelta(0)


def _completed_at(ordered_at: pd.Series, delivery_minutes: pd.Series | np.ndarray) -> pd.Series:
    """When each delivery completed (its label became known), positionally indexed."""
    minutes = pd.Series(pd.to_timedelta(np.asarray(delivery_minutes, dtype=np.float64), unit="min"))
    return pd.to_datetime(ordered_at).reset_index(drop=True) + minutes


def time_series_folds(
    ordered_at: pd.Series,
    *,
    delivery_minutes: pd.Series | np.ndarray,
    time_zone: ZoneInfo,
    folds: int,
    test_days: int,
    min_train_days: int,
    embargo: pd.Timedelta = NO_EMBARGO,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds over whole local days, oldest first: (train positions, test positions).

    The last ``folds * test_days`` local calendar days (counted back from the last order's day, empty days
    included) are cut into ``folds`` consecutive test blocks. A fold trains on every delivery completed at
    least ``embargo`` before its block's first local midnight, so no label observed in the test period (or
    in the embargo before it) is trained on; ``min_train_days`` calendar days must precede the first block.
    Positions index the rows of ``ordered_at`` (time-zone aware); its order does not matter.
    """
    if folds < 1 or test_days < 1 or min_train_days < 1:
        raise ValueError("folds, test_days and min_train_days must be at least 1")
    if embargo < pd.Timedelta(0):
        raise ValueError("embargo must not be negative")
    order_times = pd.to_datetime(ordered_at)
    if len(order_times) == 0:
        raise ValueError("no deliveries to split")
    if len(np.asarray(delivery_minutes)) != len(order_times):
        raise ValueError("ordered_at and delivery_minutes must have the same length")
    if getattr(order_times.dt, "tz", None) is None:
        raise ValueError("naive datetimes: folds are cut at local midnights and need time-zone-aware times")
    # Wall-clock dates: normalising the aware times would fail where DST skips a midnight.
    local_day = order_times.dt.tz_convert(time_zone).dt.tz_localize(None).dt.normalize().to_numpy()
    completed = _completed_at(order_times, delivery_minutes)
    last_day = local_day.max()
    first_test_day = last_day - np.timedelta64(folds * test_days - 1, "D")
    if (first_test_day - local_day.min()) < np.timedelta64(min_train_days, "D"):
        raise ValueError(
            f"{folds} folds of {test_days} days need {min_train_days} training days before them; "
            "the history is too short"
        )
    for fold in range(folds):
        start = first_test_day + np.timedelta64(fold * test_days, "D")
        end = start + np.timedelta64(test_days, "D")
        # The block's first local instant: where a DST change skips midnight the day starts at the first
        # existing time, and a repeated midnight counts from its first occurrence.
        cut = pd.Timestamp(start).tz_localize(time_zone, ambiguous=True, nonexistent="shift_forward") - embargo
        train = np.flatnonzero((completed < cut).to_numpy())
        test = np.flatnonzero((local_day >= start) & (local_day < end))
        if len(train) == 0 or len(test) == 0:
            raise ValueError(f"fold {fold} has no training or no test deliveries")
        yield train, test


def training_label_leaks(
    ordered_at: pd.Series, delivery_minutes: pd.Series | np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Positions of training deliveries not completed before the test fold's first order (empty: no leak)."""
    order_times = pd.to_datetime(ordered_at).reset_index(drop=True)
    completed = _completed_at(order_times, delivery_minutes)
    first_test_order = order_times.iloc[test].min()
    return train[~(completed.iloc[train] < first_test_order).to_numpy()]


def training_feature_leaks(
    deliveries: pd.DataFrame, features: pd.DataFrame, train: np.ndarray, *, time_zone: ZoneInfo
) -> list[str]:
    """Feature columns whose training rows differ from features built from the training deliveries alone.

    ``features`` were computed once over all of ``deliveries`` (same row order); rebuilding the training
    rows' features with only the training deliveries as history shows whether any value depended on a
    delivery outside the fold's training set (a leak). Empty: the training rows are point-in-time.
    """
    rows = deliveries.iloc[train]
    rebuilt = build_features(rows, history=rows, time_zone=time_zone)
    given = features.iloc[train]
    return [
        name
        for name in FEATURE_NAMES
        if not given[name].reset_index(drop=True).equals(rebuilt[name].reset_index(drop=True))
    ]


class TimeSeriesDaySplit:
    """`time_series_folds` as a scikit-learn splitter (``split(X, y, groups)``, ``get_n_splits``).

    Holds the order times and durations of the rows X will have, in the same order, since a splitter sees
    no more than X's length; pass it as ``cv=`` to `sklearn.model_selection.cross_validate`.
    """

    def __init__(
        self,
        ordered_at: pd.Series,
        delivery_minutes: pd.Series | np.ndarray,
        *,
        time_zone: ZoneInfo,
        folds: int = 3,
        test_days: int = 7,
        min_train_days: int = 14,
        embargo: pd.Timedelta = NO_EMBARGO,
    ) -> None:
        self.ordered_at = pd.to_datetime(ordered_at).reset_index(drop=True)
        self.delivery_minutes = np.asarray(delivery_minutes, dtype=np.float64)
        self.time_zone = time_zone
        self.folds = folds
        self.test_days = test_days
        self.min_train_days = min_train_days
        self.embargo = embargo

    def split(self, X: Sized, y: object = None, groups: object = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if len(X) != len(self.ordered_at):
            raise ValueError(f"X has {len(X)} rows; the splitter was built for {len(self.ordered_at)}")
        yield from time_series_folds(
            self.ordered_at,
            delivery_minutes=self.delivery_minutes,
            time_zone=self.time_zone,
            folds=self.folds,
            test_days=self.test_days,
            min_train_days=self.min_train_days,
            embargo=self.embargo,
        )

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        return self.folds


@dataclass(frozen=True)
class PointErrorShares:
    """MAPE and shares of deliveries within 3/5/10 minutes; beside `core.evaluation.compute_metrics`.

    A separate function for now because core/evaluation.py is being edited elsewhere; it belongs in
    `Metrics` once that settles.
    """

    mape: float
    within_3_min: float
    within_5_min: float
    within_10_min: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def point_error_shares(
    actual: np.ndarray | Sequence[float], predicted: np.ndarray | Sequence[float]
) -> PointErrorShares:
    """MAPE (a share, 0.1 = 10%) and within-N-minutes shares; actual durations must be positive."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError("actual and predicted must be non-empty 1-d arrays of the same length")
    if not np.all(y > 0):
        raise ValueError("MAPE needs positive actual durations")
    error = np.abs(p - y)
    within = [float(np.mean(error <= minutes)) for minutes in WITHIN_MINUTES_THRESHOLDS]
    return PointErrorShares(float(np.mean(error / y)), *within)


def _share_scorer(field: str) -> object:
    return make_scorer(lambda y, p: getattr(point_error_shares(y, p), field), greater_is_better=field != "mape")


# Scoring for `cross_validate`: scikit-learn's MAE plus the shares above (MAPE negated, as sklearn maximises).
CV_SCORING: dict[str, object] = {
    "mae": "neg_mean_absolute_error",
    **{field.name: _share_scorer(field.name) for field in fields(PointErrorShares)},
}


# scikit-learn ships no type stubs (pyproject's mypy section reads it as Any), so subclassing it is "Any".
class ETARegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """The point booster of `core.model` as a scikit-learn regressor (hyperparameters in ``__init__``).

    ``fit(X, y)`` trains exactly as `core.model.ETAPredictor.train` trains its point booster for
    `config_` (early stopping on the fit rows' last ``validation_days``); X is a feature frame from
    `core.features.build_training_features` with the order times in `ORDERED_AT_COLUMN`. Quantiles,
    calibration and OOD bounds are not built: cross-validation and search rank on the point error.
    """

    def __init__(
        self,
        *,
        feature_names: tuple[str, ...] = FEATURE_NAMES,
        max_depth: int = 6,
        learning_rate: float = 0.05,
        max_rounds: int = 1000,
        early_stopping_rounds: int = 50,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        seed: int = 0,
        nthread: int = 1,
        validation_days: float = 7.0,
    ) -> None:
        self.feature_names = feature_names
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.seed = seed
        self.nthread = nthread
        self.validation_days = validation_days

    @classmethod
    def from_config(cls, config: TrainingConfig) -> ETARegressor:
        """The regressor whose point booster is the one `config` trains."""
        return cls(**{name: getattr(config, name) for name in cls._get_param_names()})

    def fit(self, X: pd.DataFrame, y: Sequence[float] | np.ndarray | pd.Series) -> ETARegressor:
        if ORDERED_AT_COLUMN not in X.columns:
            raise ValueError(f"X needs the order times in a column {ORDERED_AT_COLUMN!r}")
        self.config_ = TrainingConfig(**self.get_params())
        stage = _point_stage(X, y, ordered_at=X[ORDERED_AT_COLUMN], config=self.config_)
        self.booster_: xgb.Booster = stage.point
        self.validation_mae_ = stage.validation_mae
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Point ETAs in minutes, one vectorised call (as `ETAPredictor.predict_frame`'s ``eta_minutes``)."""
        check_is_fitted(self, "booster_")
        x = _encode_frame(X, feature_specs(self.config_))
        return np.asarray(self.booster_.inplace_predict(x), dtype=np.float64)
