from __future__ import annotations

from django.db import models

from core.delivery.schema import AREA_VALUES, TRAFFIC_VALUES, VEHICLE_VALUES, WEATHER_VALUES


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ").capitalize()) for value in values]


WEATHER_CHOICES = _choices(WEATHER_VALUES)
TRAFFIC_CHOICES = _choices(TRAFFIC_VALUES)
VEHICLE_CHOICES = _choices(VEHICLE_VALUES)
AREA_CHOICES = _choices(AREA_VALUES)


class ImportSource(models.TextChoices):
    FILE = "file", "File"
    SYNTHETIC = "synthetic", "Synthetic generator"
