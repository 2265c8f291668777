from __future__ import annotations

from django.db import models


class PredictionSource(models.TextChoices):
    """Which entry point served a prediction."""

    API = "api", "API, one order"
    BATCH_API = "batch_api", "API, batch"
    BATCH = "batch", "predict_batch file"
    SIMULATION = "simulation", "simulate_traffic replay"
