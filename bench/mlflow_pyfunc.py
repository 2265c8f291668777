"""The ETA model as an MLflow pyfunc, so `mlflow models serve` can serve the same artifact we serve.

Used only by ``bench/serving.py`` as the baseline: what a team would get by wrapping the model in MLflow's
generic scoring server instead of writing the prediction API. The wrapper loads the very artifact the
registry stores (checksum-verified, like our serving path) and answers a feature frame with the point ETA,
the calibrated quantiles and the confidence score; it does no feature lookup, no explanation and no audit,
so the comparison flatters MLflow, not us.

Plain Python: no Django. The serving process needs the repository root on ``PYTHONPATH`` (for
``core.model``) and this file among the model's ``code_paths`` (for the class itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

# The artifact's checksum travels in the model's config, so the server refuses a swapped file.
ARTIFACT_KEY = "eta_artifact"
SHA256_CONFIG_KEY = "artifact_sha256"
OUTPUT_COLUMNS = ("predicted_eta_minutes", "p05", "p25", "p50", "p75", "p95", "confidence_score")


class ETAPredictorPyfunc(mlflow.pyfunc.PythonModel):
    """`core.model.ETAPredictor` behind MLflow's pyfunc interface (one frame in, one frame out)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        # Imported here: the class is pickled by reference when the model is saved, and only the serving
        # process (with the repository on its path) needs the predictor code.
        from core.model import ETAPredictor

        data = Path(context.artifacts[ARTIFACT_KEY]).read_bytes()
        expected = str((context.model_config or {})[SHA256_CONFIG_KEY])
        self._predictor = ETAPredictor.from_bytes(data, expected_sha256=expected)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Vectorised over the frame's rows: the same `predict_frame` call `predict_batch` uses."""
        scored = self._predictor.predict_frame(model_input)
        return pd.DataFrame(
            {
                "predicted_eta_minutes": scored.eta_minutes,
                **{name: scored.quantile(name) for name in OUTPUT_COLUMNS[1:6]},
                "confidence_score": scored.confidence,
            }
        )


def save_pyfunc(*, artifact_path: Path, artifact_sha256: str, example: pd.DataFrame, destination: Path) -> Path:
    """Save the wrapper with the artifact and an inferred signature as an MLflow model directory.

    The signature makes the scoring server check and convert column types the way MLflow users serve
    models; requirements are given explicitly, because inferring them starts a subprocess for nothing
    (the server runs with ``--env-manager local``).
    """
    from mlflow.models import infer_signature

    wrapper = ETAPredictorPyfunc()
    signature = infer_signature(example, _example_output(example))
    mlflow.pyfunc.save_model(
        path=str(destination),
        python_model=wrapper,
        artifacts={ARTIFACT_KEY: str(artifact_path)},
        model_config={SHA256_CONFIG_KEY: artifact_sha256},
        code_paths=[__file__],
        signature=signature,
        pip_requirements=["mlflow", "xgboost", "pandas", "numpy"],
    )
    return destination


def _example_output(example: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({name: [0.0] * len(example) for name in OUTPUT_COLUMNS})
