"""Models that test fixtures train without the database, on a synthetic history file."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from core.delivery.schema import load_clean_frame
from core.features import build_training_features
from core.model import ETAPredictor, TrainingConfig
from tenants.constants import DEFAULT_TIME_ZONE


def history_model_bytes(history_path: Path, config: TrainingConfig) -> bytes:
    """The artifact of a model trained on the history file in the default time zone, as the importer reads it."""
    time_zone = ZoneInfo(DEFAULT_TIME_ZONE)
    frame, _ = load_clean_frame(history_path, time_zone=time_zone)
    predictor = ETAPredictor.train(
        build_training_features(frame, time_zone=time_zone),
        frame["delivery_minutes"],
        ordered_at=frame["ordered_at"],
        config=config,
    )
    return predictor.to_bytes()
