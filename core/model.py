"""`ETAPredictor`: XGBoost point ETA, calibrated quantiles, confidence, OOD flags and TreeSHAP reasons.

Two boosters share one feature encoding. A squared-error booster gives the point ETA and its exact
TreeSHAP contributions (in minutes); a multi-quantile booster (``reg:quantileerror``) gives p05..p95,
which are then conformalised on a time-ordered validation window (the last days of the training period,
also used for early stopping) so that the p05-p95 interval covers ~90% and p25-p75 ~50% of validation
deliveries (conformalized quantile regression, Romano et al. 2019).

The artifact is one JSON document (features and their order, categorical levels, OOD bounds,
calibration, parameters, explanation settings, both boosters as UBJSON) serialised deterministically,
so equal data and parameters give byte-identical bytes and the same sha256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import xgboost as xgb

from core.features import (
    FEATURE_NAMES,
    FEATURE_SET_NAME,
    FEATURE_SET_VERSION,
    FEATURES_BY_NAME,
    ORDER_FEATURES,
    FeatureKind,
    FeatureValue,
)

ARTIFACT_FORMAT = "intellilog.eta_predictor"
ARTIFACT_FORMAT_VERSION = 1
QUANTILE_LEVELS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_NAMES: tuple[str, ...] = ("p05", "p25", "p50", "p75", "p95")
# New versions' boosters use two threads: hist is reproducible for a fixed thread count, which is recorded.
TRAINING_THREADS = 2
# New versions fit the quantile booster on a seeded sample of at most this many fit rows (see
# `TrainingConfig.quantile_fit_rows`); chosen on bench/boosting_cost.py and bench/accuracy.py figures.
QUANTILE_FIT_ROWS = 200_000
# Percentiles of validation interval widths kept for the confidence score: 101 points resolve it to 1%.
_CONFIDENCE_GRID_POINTS = 101
CONFIDENCE_MEANING = (
    "Share of validation-window orders whose calibrated p05-p95 interval was wider than this one: "
    "1.0 = as narrow as the narrowest seen in validation, 0.0 = as wide as the widest or wider; divided by "
    "1 + the number of features outside the training range, so an out-of-distribution order is never sure."
)


class ArtifactIntegrityError(ValueError):
    """The artifact bytes do not hash to the expected sha256, or are not an ETA predictor artifact."""


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides the trained model; stored in the artifact so a version can be reproduced.

    Defaults were chosen on the validation window of the bundled history (see bench/accuracy.py): deeper or
    larger models did not lower validation MAE, and this size keeps single-row TreeSHAP at a few ms.
    """

    feature_names: tuple[str, ...] = FEATURE_NAMES
    max_depth: int = 6
    learning_rate: float = 0.05
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    quantile_max_depth: int = 5
    seed: int = 0
    # Fixed thread count: XGBoost's histogram building is reproducible for a given thread count. New
    # versions use TRAINING_THREADS (`default_candidates`); two threads were ten times slower than one on
    # a shared 2-core host until OpenMP waited passively (core/__init__.py).
    nthread: int = 1
    validation_days: float = 7.0
    target_coverage: float = 0.90
    inner_target_coverage: float = 0.50
    ood_lower_percentile: float = 0.1
    ood_upper_percentile: float = 99.9
    # Widens each numeric range by this share of its span, so values just beyond the training extremes
    # (an age of 40 when 39 was the oldest seen) are not flagged.
    ood_margin_fraction: float = 0.1
    explanation_top_k: int = 5
    # Fields added after versions were trained without them (`_ADDED_FIELDS`): None is the behaviour from
    # before they existed and is left out of `as_dict`, so those versions' recorded parameters and artifact
    # bytes stay as they were and they reproduce as before.
    # The quantile booster fits on a seeded sample of at most this many fit rows; None: every fit row.
    # Its quantiles are conformalised on the whole validation window afterwards, and at five trees a round
    # it was most of the training time at a million rows.
    quantile_fit_rows: int | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.feature_names if name not in FEATURES_BY_NAME]
        if unknown:
            raise ValueError(f"unknown feature names: {', '.join(unknown)}")
        if not 0 < self.target_coverage < 1 or not 0 < self.inner_target_coverage < self.target_coverage:
            raise ValueError("coverages must satisfy 0 < inner_target_coverage < target_coverage < 1")
        if self.quantile_fit_rows is not None and self.quantile_fit_rows < 20:
            raise ValueError("quantile_fit_rows must be at least 20 (or None for every fit row)")

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["feature_names"] = list(self.feature_names)
        for name in _ADDED_FIELDS:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TrainingConfig:
        values = dict(data)
        values["feature_names"] = tuple(values["feature_names"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


_ADDED_FIELDS = ("quantile_fit_rows",)


@dataclass(frozen=True)
class NumericBounds:
    """The range of a numeric feature considered in distribution (training percentiles plus a margin)."""

    lower: float
    upper: float


@dataclass(frozen=True)
class Calibration:
    """Conformal adjustments in minutes, and validation coverage before (raw) and after (calibrated)."""

    outer_widening: float
    inner_widening: float
    median_shift: float
    raw_coverage: float
    calibrated_coverage: float
    raw_inner_coverage: float
    calibrated_inner_coverage: float


@dataclass(frozen=True)
class TrainingSummary:
    """What happened in training: window sizes, rounds kept, validation MAE; stored in the artifact.

    The point booster has one tree per round; the quantile booster one tree per quantile per round.
    """

    fit_rows: int
    validation_rows: int
    validation_start: str
    point_rounds: int
    quantile_rounds: int
    validation_mae: float


@dataclass(frozen=True)
class QuantileForecast:
    """Calibrated predictive quantiles of the delivery duration, in minutes."""

    p05: float
    p25: float
    p50: float
    p75: float
    p95: float


@dataclass(frozen=True)
class FeatureContribution:
    """One feature's TreeSHAP contribution to the point ETA, in minutes (positive = slower)."""

    feature: str
    value: FeatureValue
    minutes: float


@dataclass(frozen=True)
class Explanation:
    """Why the point ETA is what it is: base + sum(top contributions) + other_minutes = ETA."""

    base_minutes: float
    top: tuple[FeatureContribution, ...]
    other_minutes: float


@dataclass(frozen=True)
class OutOfRangeFeature:
    """A feature value outside what the model saw in training, with the reason."""

    feature: str
    value: FeatureValue
    reason: str


@dataclass(frozen=True)
class ETAPrediction:
    """One order's prediction: point ETA, calibrated quantiles, confidence, OOD flags, explanation."""

    eta_minutes: float
    quantiles: QuantileForecast
    confidence: float
    out_of_range: tuple[OutOfRangeFeature, ...]
    explanation: Explanation | None

    @property
    def is_in_distribution(self) -> bool:
        return not self.out_of_range

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BatchPrediction:
    """Predictions for many rows: arrays aligned with the input rows."""

    eta_minutes: np.ndarray
    quantiles: np.ndarray = field(repr=False)  # shape (rows, len(QUANTILE_LEVELS))
    confidence: np.ndarray = field(repr=False)

    def quantile(self, name: str) -> np.ndarray:
        return self.quantiles[:, QUANTILE_NAMES.index(name)]


@dataclass(frozen=True)
class _FeatureSpec:
    name: str
    kind: FeatureKind
    levels: tuple[str, ...]


def _conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The finite-sample conformal quantile: guarantees ``coverage`` on exchangeable data."""
    level = min(1.0, math.ceil((len(scores) + 1) * coverage) / len(scores))
    return float(np.quantile(scores, level, method="higher"))


def _booster_bytes(booster: xgb.Booster) -> str:
    return base64.b64encode(bytes(booster.save_raw(raw_format="ubj"))).decode("ascii")


def _load_booster(encoded: str) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(base64.b64decode(encoded)))
    # Serving predicts one row at a time: a single thread avoids thread start-up cost per call.
    booster.set_param({"nthread": 1})
    return booster


class ETAPredictor:
    """A trained ETA model with everything serving needs; build with `train` or `from_bytes`."""

    def __init__(self, document: dict[str, object]) -> None:
        self._document = document
        self._bytes = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        self.sha256 = hashlib.sha256(self._bytes).hexdigest()
        self.config = TrainingConfig.from_dict(document["training_config"])  # type: ignore[arg-type]
        self.summary = TrainingSummary(**document["training_summary"])  # type: ignore[arg-type]
        self.calibration = Calibration(**document["calibration"])  # type: ignore[arg-type]
        self.features = tuple(
            _FeatureSpec(spec["name"], FeatureKind(spec["kind"]), tuple(spec["levels"]))
            for spec in document["features"]  # type: ignore[attr-defined]
        )
        self.feature_names = tuple(spec.name for spec in self.features)
        ood = document["ood"]
        self.numeric_bounds = {
            name: NumericBounds(**bounds)
            for name, bounds in ood["numeric_bounds"].items()  # type: ignore[index]
        }
        self.seen_levels = {name: frozenset(levels) for name, levels in ood["seen_levels"].items()}  # type: ignore[index]
        # Artifacts written before counts were exempted from range checks lack the list.
        self.unchecked_features = frozenset(ood.get("unchecked", ()))  # type: ignore[attr-defined]
        self._codes = {
            spec.name: {level: float(code) for code, level in enumerate(spec.levels)}
            for spec in self.features
            if spec.kind is FeatureKind.CATEGORICAL
        }
        self._confidence_grid = np.asarray(document["confidence"]["width_percentiles"])  # type: ignore[index]
        self._point = _load_booster(document["point_model"])  # type: ignore[arg-type]
        self._quantile = _load_booster(document["quantile_model"])  # type: ignore[arg-type]
        self._feature_types = ["c" if spec.kind is FeatureKind.CATEGORICAL else "q" for spec in self.features]
        self._feature_name_list = list(self.feature_names)

    # ----- training -----

    @classmethod
    def train(
        cls,
        features: pd.DataFrame,
        target: Sequence[float] | np.ndarray | pd.Series,
        *,
        ordered_at: pd.Series,
        config: TrainingConfig | None = None,
    ) -> ETAPredictor:
        """Train on ``features`` (from `build_training_features`) against delivery minutes.

        The rows ordered in the last ``config.validation_days`` days form the validation window: it picks
        the number of boosting rounds and calibrates the quantiles, and is not used to fit trees.
        """
        return _point_stage(features, target, ordered_at=ordered_at, config=config or TrainingConfig()).finish()

    # ----- serialisation -----

    def to_bytes(self) -> bytes:
        """The self-describing artifact; `sha256` is its digest."""
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_sha256: str) -> ETAPredictor:
        """Load an artifact, refusing it unless its sha256 equals ``expected_sha256``."""
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise ArtifactIntegrityError(f"artifact sha256 is {actual}, expected {expected_sha256}: refusing to load")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactIntegrityError(f"artifact is not JSON: {exc}") from exc
        if document.get("format") != ARTIFACT_FORMAT or document.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise ArtifactIntegrityError(
                f"not an {ARTIFACT_FORMAT} v{ARTIFACT_FORMAT_VERSION} artifact: "
                f"{document.get('format')!r} v{document.get('format_version')!r}"
            )
        predictor = cls(document)
        if predictor.to_bytes() != data:
            raise ArtifactIntegrityError("artifact is not in canonical form")
        return predictor

    # ----- serving -----

    def predict(self, features: Mapping[str, FeatureValue], *, explain: bool = True) -> ETAPrediction:
        """Predict one order from its feature vector (`build_order_features`); the fast serving path."""
        return self.predict_many([features], explain=explain)[0]

    def predict_many(
        self, vectors: Sequence[Mapping[str, FeatureValue]], *, explain: bool = True
    ) -> list[ETAPrediction]:
        """Predict several orders in one pass over the boosters; row i equals ``predict(vectors[i])``.

        XGBoost scores each row independently, so batching changes the cost, never a row's outputs:
        a prediction served in a batch replays exactly one at a time.
        """
        if not vectors:
            return []
        x = self._encode_rows(vectors)
        if explain:
            # TreeSHAP needs a DMatrix; the point and quantile predictions read the same one rather than
            # each wrapping the rows again (inplace_predict builds a proxy matrix per call). Both walk the
            # same trees on the same float32 values, so the outputs are bit-identical either way.
            # One thread for a handful of rows: building a matrix with a thread pool costs more than the rows.
            matrix = self._matrix(x, nthread=1 if len(x) < 64 else -1)
            eta = np.asarray(self._point.predict(matrix, validate_features=False), dtype=np.float64)
            raw = np.asarray(self._quantile.predict(matrix, validate_features=False), dtype=np.float64)
            contributions = np.asarray(
                self._point.predict(matrix, pred_contribs=True, validate_features=False), dtype=np.float64
            )
        else:
            eta = np.asarray(self._point.inplace_predict(x), dtype=np.float64)
            raw = np.asarray(self._quantile.inplace_predict(x), dtype=np.float64)
            contributions = None
        flags = [self.out_of_range(features) for features in vectors]
        quantiles = _interval_holding_point(
            eta, _apply_calibration(raw.reshape(len(x), len(QUANTILE_LEVELS)), self.calibration)
        )
        confidence = self._confidence(quantiles, np.array([len(flagged) for flagged in flags]))
        return [
            ETAPrediction(
                eta_minutes=float(eta[i]),
                quantiles=QuantileForecast(*(float(q) for q in quantiles[i])),
                confidence=float(confidence[i]),
                out_of_range=flags[i],
                explanation=self._explanation(contributions[i], features) if contributions is not None else None,
            )
            for i, features in enumerate(vectors)
        ]

    def predict_frame(self, features: pd.DataFrame) -> BatchPrediction:
        """Vectorised predictions for many rows (evaluation, batch scoring)."""
        x = _encode_frame(features, self.features)
        raw = np.asarray(self._quantile.inplace_predict(x), dtype=np.float64).reshape(len(x), len(QUANTILE_LEVELS))
        eta = np.asarray(self._point.inplace_predict(x), dtype=np.float64)
        quantiles = _interval_holding_point(eta, _apply_calibration(raw, self.calibration))
        return BatchPrediction(
            eta_minutes=eta,
            quantiles=quantiles,
            confidence=self._confidence(quantiles, self.out_of_range_counts(features)),
        )

    def out_of_range(self, features: Mapping[str, FeatureValue]) -> tuple[OutOfRangeFeature, ...]:
        """The features whose value lies outside the training range or is a level training never saw.

        A missing value is not out of range: the model was trained with missing values and routes them.
        Counts that grow with history (`has_stable_range` false) are not range-checked.
        """
        flagged: list[OutOfRangeFeature] = []
        for spec in self.features:
            value = features.get(spec.name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if spec.kind is FeatureKind.CATEGORICAL:
                if value not in self.seen_levels[spec.name]:
                    flagged.append(OutOfRangeFeature(spec.name, value, f"level {value!r} not seen in training"))
                continue
            if spec.name in self.unchecked_features:
                continue
            bounds = self.numeric_bounds.get(spec.name)
            number = float(value)
            if bounds is None:
                flagged.append(OutOfRangeFeature(spec.name, value, "no value observed in training"))
            elif number < bounds.lower:
                flagged.append(OutOfRangeFeature(spec.name, value, f"below the training range ({bounds.lower:.4g})"))
            elif number > bounds.upper:
                flagged.append(OutOfRangeFeature(spec.name, value, f"above the training range ({bounds.upper:.4g})"))
        return tuple(flagged)

    def out_of_range_mask(self, features: pd.DataFrame) -> np.ndarray:
        """Vectorised `out_of_range` for many rows: True where any feature is out of distribution."""
        return self.out_of_range_counts(features) > 0

    def out_of_range_counts(self, features: pd.DataFrame) -> np.ndarray:
        """Vectorised ``len(out_of_range(row))`` for many rows: how many features each row has out of range."""
        counts = np.zeros(len(features), dtype=np.int64)
        for spec in self.features:
            column = features[spec.name]
            if spec.kind is FeatureKind.CATEGORICAL:
                counts += (column.notna() & ~column.isin(self.seen_levels[spec.name])).to_numpy()
                continue
            if spec.name in self.unchecked_features:
                continue
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            present = ~np.isnan(values)
            bounds = self.numeric_bounds.get(spec.name)
            if bounds is None:
                counts += present
            else:
                counts += present & ((values < bounds.lower) | (values > bounds.upper))
        return counts

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-row TreeSHAP contributions to the point ETA in minutes; columns: the features, then "base".

        Each row sums to that row's point ETA. Used for SHAP summaries over many rows.
        """
        matrix = self._matrix(_encode_frame(features, self.features), nthread=-1)
        values = np.asarray(self._point.predict(matrix, pred_contribs=True, validate_features=False), dtype=np.float64)
        return pd.DataFrame(values, columns=[*self.feature_names, "base"], index=features.index)

    def explanations(self, contributions: pd.DataFrame, features: pd.DataFrame) -> list[Explanation]:
        """Each row's explanation from its `contributions`: row i's equals ``predict(row i).explanation``."""
        values = contributions.to_numpy(dtype=np.float64)
        vectors = features.to_dict("records")
        return [self._explanation(values[row], vectors[row]) for row in range(len(values))]

    def _matrix(self, x: np.ndarray, *, nthread: int) -> xgb.DMatrix:
        """Encoded rows as a DMatrix with this model's feature names and types.

        Built from the boosters' own names and types, so predicting from it skips XGBoost's per-call
        feature validation (``validate_features=False``): there is nothing it could find.
        """
        return xgb.DMatrix(
            x,
            feature_names=self._feature_name_list,
            feature_types=self._feature_types,
            enable_categorical=True,
            nthread=nthread,
        )

    def _explanation(self, contributions: np.ndarray, features: Mapping[str, FeatureValue]) -> Explanation:
        per_feature, base = contributions[:-1], float(contributions[-1])
        top_k = self.config.explanation_top_k
        # Stable sort on -|contribution| so ties keep feature order: explanations are reproducible.
        ranked = np.argsort(-np.abs(per_feature), kind="stable")[:top_k]
        top = tuple(
            FeatureContribution(self.feature_names[i], features.get(self.feature_names[i]), float(per_feature[i]))
            for i in ranked
        )
        other = float(per_feature.sum() - per_feature[ranked].sum())
        return Explanation(base_minutes=base, top=top, other_minutes=other)

    def _confidence(self, quantiles: np.ndarray, out_of_range_counts: np.ndarray) -> np.ndarray:
        """CONFIDENCE_MEANING, divided by 1 + the number of features out of the training range.

        The interval's width says how sure the model is where it was trained; outside that range its
        quantile trees extrapolate flat, so a narrow interval there is no evidence of certainty. Each
        feature outside the range therefore lowers the confidence further (one halves it, two third it).
        """
        widths = quantiles[:, -1] - quantiles[:, 0]
        wider = self._confidence_grid[None, :] > widths[:, None]
        return wider.mean(axis=1) / (1.0 + out_of_range_counts)

    def _encode_rows(self, vectors: Sequence[Mapping[str, FeatureValue]]) -> np.ndarray:
        """Feature vectors as a float32 matrix in model order; categorical levels become their level index."""
        x = np.empty((len(vectors), len(self.features)), dtype=np.float32)
        for row, features in enumerate(vectors):
            for i, spec in enumerate(self.features):
                value = features.get(spec.name)
                if spec.kind is FeatureKind.CATEGORICAL:
                    x[row, i] = self._codes[spec.name].get(value, math.nan)  # type: ignore[arg-type]
                else:
                    x[row, i] = math.nan if value is None else float(value)
        return x


@dataclass(frozen=True)
class _PointStage:
    """A candidate trained as far as its point booster: enough to rank it by validation MAE.

    `finish` adds the quantile booster, calibration and the artifact document. Ranking candidates on
    this stage spares the quantile booster (five trees a round, most of the training time) of every
    candidate that is not kept; the kept one's artifact is byte-identical to training it alone. The stage
    holds no fit rows, only the matrix the quantile booster fits on (when sampled, a small one), so a
    kept stage does not double the memory of the next candidate's.
    """

    config: TrainingConfig
    val_x: np.ndarray
    val_y: np.ndarray
    quantile_fit_matrix: xgb.DMatrix
    val_matrix: xgb.DMatrix
    validation_start: pd.Timestamp
    point: xgb.Booster
    point_params: dict[str, object]
    common_params: dict[str, object]
    validation_mae: float
    fit_rows: int
    ood: dict[str, object]

    def finish(self) -> ETAPredictor:
        quantile_params = _quantile_params(self.common_params, self.config)
        quantile = _train_early_stopped(quantile_params, self.quantile_fit_matrix, self.val_matrix, self.config)
        return artifact_predictor(
            config=self.config,
            point=self.point,
            quantile=quantile,
            booster_params={"point": self.point_params, "quantile": quantile_params},
            validation=(self.val_x, self.val_y),
            validation_start=self.validation_start,
            fit_rows=self.fit_rows,
            ood=self.ood,
        )


def feature_specs(config: TrainingConfig) -> tuple[_FeatureSpec, ...]:
    return tuple(
        _FeatureSpec(name, FEATURES_BY_NAME[name].kind, FEATURES_BY_NAME[name].levels) for name in config.feature_names
    )


def booster_params(config: TrainingConfig) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """The parameters every booster shares, the point booster's and the quantile booster's."""
    common = {
        "tree_method": "hist",
        "learning_rate": config.learning_rate,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "reg_lambda": config.reg_lambda,
        "seed": config.seed,
        "nthread": config.nthread,
    }
    point = {**common, "objective": "reg:squarederror", "eval_metric": "mae", "max_depth": config.max_depth}
    return common, point, _quantile_params(common, config)


def _quantile_params(common: dict[str, object], config: TrainingConfig) -> dict[str, object]:
    return {
        **common,
        "objective": "reg:quantileerror",
        "quantile_alpha": list(QUANTILE_LEVELS),
        "eval_metric": "quantile",
        "max_depth": config.quantile_max_depth,
    }


def artifact_predictor(
    *,
    config: TrainingConfig,
    point: xgb.Booster,
    quantile: xgb.Booster,
    booster_params: dict[str, object],
    validation: tuple[np.ndarray, np.ndarray],
    validation_start: pd.Timestamp,
    fit_rows: int,
    ood: dict[str, object],
) -> ETAPredictor:
    """The self-describing artifact of trained boosters: calibration and confidence from the validation rows.

    Shared by local and distributed training, so both yield the one artifact format serving, replay and
    the registry load.
    """
    val_x, val_y = validation
    specs = feature_specs(config)
    point_val = point.inplace_predict(val_x)
    raw_val = np.asarray(quantile.inplace_predict(val_x)).reshape(len(val_y), len(QUANTILE_LEVELS))
    calibration = _calibrate(raw_val, val_y, config)
    calibrated_val = _apply_calibration(raw_val, calibration)
    widths = calibrated_val[:, -1] - calibrated_val[:, 0]
    document: dict[str, object] = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "feature_set": {"name": FEATURE_SET_NAME, "version": FEATURE_SET_VERSION},
        "features": [{"name": s.name, "kind": s.kind.value, "levels": list(s.levels)} for s in specs],
        "training_config": config.as_dict(),
        "booster_params": booster_params,
        "quantile_levels": list(QUANTILE_LEVELS),
        "calibration": asdict(calibration),
        "confidence": {
            "meaning": CONFIDENCE_MEANING,
            "width_percentiles": [
                float(v) for v in np.percentile(widths, np.linspace(0, 100, _CONFIDENCE_GRID_POINTS))
            ],
        },
        "ood": ood,
        "explanation": {
            "method": "xgboost_treeshap",
            "unit": "minutes",
            "top_k": config.explanation_top_k,
            "output": "point ETA (squared-error booster); base + contributions = eta_minutes",
        },
        "training_summary": asdict(
            TrainingSummary(
                fit_rows=fit_rows,
                validation_rows=len(val_y),
                validation_start=validation_start.isoformat(),
                point_rounds=point.num_boosted_rounds(),
                quantile_rounds=quantile.num_boosted_rounds(),
                validation_mae=float(np.mean(np.abs(point_val - val_y))),
            )
        ),
        "point_model": _booster_bytes(point),
        "quantile_model": _booster_bytes(quantile),
    }
    return ETAPredictor(document)


def _point_stage(
    features: pd.DataFrame,
    target: Sequence[float] | np.ndarray | pd.Series,
    *,
    ordered_at: pd.Series,
    config: TrainingConfig,
) -> _PointStage:
    y = np.asarray(target, dtype=np.float64)
    if len(features) != len(y) or len(features) != len(ordered_at):
        raise ValueError("features, target and ordered_at must have the same length")
    if not np.all(np.isfinite(y)):
        raise ValueError("target contains missing or infinite values")
    order_times = pd.to_datetime(ordered_at)
    validation_start = order_times.max() - pd.Timedelta(days=config.validation_days)
    is_validation = (order_times > validation_start).to_numpy()
    if is_validation.sum() < 20 or (~is_validation).sum() < 20:
        raise ValueError("need at least 20 rows both before and inside the validation window")

    specs = feature_specs(config)
    # Each window encoded straight from the frame: no whole-history matrix to split into copies.
    fit_x, fit_y = _encode_frame(features, specs, rows=~is_validation), y[~is_validation]
    val_x, val_y = _encode_frame(features, specs, rows=is_validation), y[is_validation]
    feature_types = ["c" if spec.kind is FeatureKind.CATEGORICAL else "q" for spec in specs]
    names = list(config.feature_names)
    # The fit rows are quantised once into a QuantileDMatrix (one byte a value instead of a float and an
    # index): it trains byte-identically to a DMatrix with hist. The validation window stays a DMatrix.
    fit_matrix = xgb.QuantileDMatrix(
        fit_x,
        label=fit_y,
        feature_names=names,
        feature_types=feature_types,
        enable_categorical=True,
        nthread=config.nthread,
    )
    val_matrix = xgb.DMatrix(
        val_x,
        label=val_y,
        feature_names=names,
        feature_types=feature_types,
        enable_categorical=True,
        nthread=config.nthread,
    )
    common, point_params, _ = booster_params(config)
    point = _train_early_stopped(point_params, fit_matrix, val_matrix, config)
    sample = quantile_fit_sample(len(fit_y), config)
    if sample is not None:
        fit_matrix = xgb.QuantileDMatrix(
            fit_x[sample],
            label=fit_y[sample],
            feature_names=names,
            feature_types=feature_types,
            enable_categorical=True,
            nthread=config.nthread,
        )
    point_val = point.inplace_predict(val_x)
    return _PointStage(
        config=config,
        val_x=val_x,
        val_y=val_y,
        quantile_fit_matrix=fit_matrix,
        val_matrix=val_matrix,
        validation_start=validation_start,
        point=point,
        point_params=point_params,
        common_params=common,
        validation_mae=float(np.mean(np.abs(point_val - val_y))),
        fit_rows=len(fit_y),
        ood=_ood_bounds(fit_x, specs, config),
    )


def quantile_fit_sample(fit_rows: int, config: TrainingConfig) -> np.ndarray | None:
    """The fit rows the quantile booster learns from, ascending, or None for all of them.

    A sample without replacement drawn from ``config.seed``, so a version's sample is the same at every
    reproduction; kept in time order, so the matrix is the fit matrix's rows, only fewer.
    """
    if config.quantile_fit_rows is None or fit_rows <= config.quantile_fit_rows:
        return None
    return np.sort(np.random.default_rng(config.seed).choice(fit_rows, size=config.quantile_fit_rows, replace=False))


@dataclass(frozen=True)
class CandidateResult:
    """One candidate configuration tried by `train_best_of`, with its validation MAE.

    ``sha256`` is the artifact's for the kept candidate; None for the others, which are never finished.
    """

    feature_names: tuple[str, ...]
    validation_mae: float
    sha256: str | None


def default_candidates(*, sample_quantile_fit: bool = True) -> tuple[TrainingConfig, ...]:
    """What every training run compares on its validation window: all features, and order features only.

    History features help some tenants and not others (on the bundled history they do not), so each run
    lets its own validation window decide. Both use TRAINING_THREADS threads and, with
    ``sample_quantile_fit``, fit the quantile booster on at most QUANTILE_FIT_ROWS rows.
    """
    base = TrainingConfig(
        nthread=TRAINING_THREADS, quantile_fit_rows=QUANTILE_FIT_ROWS if sample_quantile_fit else None
    )
    return base, replace(base, feature_names=tuple(feature.name for feature in ORDER_FEATURES))


def train_best_of(
    features: pd.DataFrame,
    target: Sequence[float] | np.ndarray | pd.Series,
    *,
    ordered_at: pd.Series,
    candidates: Sequence[TrainingConfig],
) -> tuple[ETAPredictor, tuple[CandidateResult, ...]]:
    """Rank every candidate by its point booster's validation-window MAE; finish and return the best.

    Model selection uses only the validation window inside the training period, never later data; e.g.
    with and without the history features, whose value differs between tenants.
    """
    if not candidates:
        raise ValueError("need at least one candidate configuration")
    # Only the best stage so far is held, so memory does not grow with the number of candidates.
    best_index, best = 0, _point_stage(features, target, ordered_at=ordered_at, config=candidates[0])
    maes = [best.validation_mae]
    for index, config in enumerate(candidates[1:], start=1):
        stage = _point_stage(features, target, ordered_at=ordered_at, config=config)
        maes.append(stage.validation_mae)
        # Strictly lower: on a tie the earlier candidate stays, as min() keeps the first.
        if stage.validation_mae < best.validation_mae:
            best_index, best = index, stage
        del stage
    model = best.finish()
    results = tuple(
        CandidateResult(config.feature_names, mae, model.sha256 if index == best_index else None)
        for index, (config, mae) in enumerate(zip(candidates, maes, strict=True))
    )
    return model, results


def _encode_frame(
    features: pd.DataFrame, specs: Sequence[_FeatureSpec], *, rows: np.ndarray | None = None
) -> np.ndarray:
    """Features as a float32 matrix in model order; categorical levels become their level index.

    With ``rows`` (a boolean mask), only those rows, taken one column at a time so that no copy of the
    frame is made.
    """
    missing = [spec.name for spec in specs if spec.name not in features.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns: {', '.join(missing)}")
    x = np.empty((len(features) if rows is None else int(np.count_nonzero(rows)), len(specs)), dtype=np.float32)
    for i, spec in enumerate(specs):
        column = features[spec.name] if rows is None else features[spec.name][rows]
        if spec.kind is FeatureKind.CATEGORICAL:
            # Looked up once per distinct value, then spread to the rows by their codes; missing is NaN.
            codes, distinct = pd.factorize(column, use_na_sentinel=True)
            level_codes = {level: float(code) for code, level in enumerate(spec.levels)}
            lookup = [level_codes.get(value, math.nan) for value in distinct]
            x[:, i] = np.array([*lookup, math.nan], dtype=np.float32)[codes]
        else:
            x[:, i] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float32)
    return x


def _train_early_stopped(
    params: dict[str, object], fit: xgb.DMatrix, validation: xgb.DMatrix, config: TrainingConfig
) -> xgb.Booster:
    booster = xgb.train(
        params,
        fit,
        num_boost_round=config.max_rounds,
        evals=[(validation, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    # Keep only the rounds up to the best one: a smaller, faster model that predicts what was validated.
    return booster[: booster.best_iteration + 1]


def _calibrate(raw: np.ndarray, y: np.ndarray, config: TrainingConfig) -> Calibration:
    """Conformalise the outer and inner intervals and re-centre the median on the validation window."""
    lower, inner_lower, median, inner_upper, upper = raw.T
    outer = _conformal_quantile(np.maximum(lower - y, y - upper), config.target_coverage)
    inner = _conformal_quantile(np.maximum(inner_lower - y, y - inner_upper), config.inner_target_coverage)
    return Calibration(
        outer_widening=outer,
        inner_widening=inner,
        median_shift=float(np.median(y - median)),
        raw_coverage=float(np.mean((y >= lower) & (y <= upper))),
        calibrated_coverage=float(np.mean((y >= lower - outer) & (y <= upper + outer))),
        raw_inner_coverage=float(np.mean((y >= inner_lower) & (y <= inner_upper))),
        calibrated_inner_coverage=float(np.mean((y >= inner_lower - inner) & (y <= inner_upper + inner))),
    )


def _interval_holding_point(eta: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The quantiles stretched so that p05 <= point ETA <= p95 on every row.

    The point ETA (squared-error booster) and the quantiles (quantile booster) are two models; far outside
    the training data they can disagree so much that the point falls outside its own interval (an order of
    400 km got a point below its p05). The interval stretches to hold the point rather than the point
    moving: the point is what the explanation sums to, and the wider interval states the disagreement
    honestly (and lowers the confidence with it). Inside the interval nothing changes.
    """
    held = quantiles.copy()
    held[:, 0] = np.minimum(held[:, 0], eta)
    held[:, -1] = np.maximum(held[:, -1], eta)
    return held


def _apply_calibration(raw: np.ndarray, calibration: Calibration) -> np.ndarray:
    adjusted = raw.astype(np.float64, copy=True)
    adjusted[:, 0] -= calibration.outer_widening
    adjusted[:, 1] -= calibration.inner_widening
    adjusted[:, 2] += calibration.median_shift
    adjusted[:, 3] += calibration.inner_widening
    adjusted[:, 4] += calibration.outer_widening
    # Independent adjustments can cross (a negative widening narrows); sorting restores p05 <= ... <= p95.
    return np.sort(adjusted, axis=1)


def _ood_bounds(x: np.ndarray, specs: Sequence[_FeatureSpec], config: TrainingConfig) -> dict[str, object]:
    return ood_bounds_of_columns(lambda i: x[:, i], specs, config)


def ood_bounds_of_columns(
    column_of: Callable[[int], np.ndarray], specs: Sequence[_FeatureSpec], config: TrainingConfig
) -> dict[str, object]:
    """OOD bounds from the fit rows' encoded columns, fetched one at a time (a distributed matrix need
    never be whole on one machine, one float32 column is)."""
    numeric_bounds: dict[str, dict[str, float]] = {}
    seen_levels: dict[str, list[str]] = {}
    unchecked: list[str] = []
    for i, spec in enumerate(specs):
        column = np.asarray(column_of(i)).astype(np.float64)
        present = column[~np.isnan(column)]
        if spec.kind is FeatureKind.CATEGORICAL:
            seen_levels[spec.name] = [spec.levels[int(code)] for code in np.unique(present)]
            continue
        if not FEATURES_BY_NAME[spec.name].has_stable_range:
            unchecked.append(spec.name)
            continue
        if len(present) == 0:
            continue  # never observed in training: `out_of_range` flags any value
        low, high = np.percentile(present, [config.ood_lower_percentile, config.ood_upper_percentile])
        margin = config.ood_margin_fraction * (high - low)
        numeric_bounds[spec.name] = {"lower": float(low - margin), "upper": float(high + margin)}
    return {
        "numeric_bounds": numeric_bounds,
        "seen_levels": seen_levels,
        "unchecked": unchecked,
        "percentiles": [config.ood_lower_percentile, config.ood_upper_percentile],
        "margin_fraction": config.ood_margin_fraction,
    }
