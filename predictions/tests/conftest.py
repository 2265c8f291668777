from __future__ import annotations

import pytest

from predictions.selectors import serving_cache_clear
from registry.tests.conftest import smaller_model, two_versions  # noqa: F401 (a champion and a candidate, real models)


@pytest.fixture(autouse=True)
def fresh_serving_cache() -> None:
    """Each test starts with no champion cached in this process."""
    serving_cache_clear()


@pytest.fixture(autouse=True)
def isolated_model_storage(model_storage: None) -> None:
    """Artifacts (factory versions write real ones) and MLflow runs go to temporary places, never var/."""
