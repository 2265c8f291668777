"""The picture of one audited prediction: its SHAP waterfall (base -> contributions -> ETA) and quantile band."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt

from intellilog.charts import png_data_uri

SLOWER_COLOUR = "#c0392b"
FASTER_COLOUR = "#2e86c1"
BAND_COLOUR = "#85c1e9"


def audit_explanation_chart(response: Mapping[str, Any]) -> str | None:
    """A data URI of the waterfall and the p05-p95 band of the response; None when it has no explanation."""
    explanation = response.get("explanation")
    quantiles = response.get("quantiles") or {}
    if not explanation:
        return None
    steps = [(f"{item['feature']} = {_value(item['value'])}", float(item["minutes"])) for item in explanation["top"]]
    steps.append(("all other features", float(explanation["other_minutes"])))
    eta = float(response["predicted_eta_minutes"])
    figure, (waterfall, band) = plt.subplots(
        2, 1, figsize=(7.0, 0.45 * len(steps) + 2.6), gridspec_kw={"height_ratios": [len(steps) + 2, 1.4]}
    )
    labels = ["base (average order)", *(label for label, _ in steps), "predicted ETA"]
    running = float(explanation["base_minutes"])
    waterfall.barh(0, running, color="#999999")
    waterfall.text(running, 0, f" {running:.1f} min", va="center", fontsize=8)
    for row, (_, minutes) in enumerate(steps, start=1):
        waterfall.barh(row, minutes, left=running, color=SLOWER_COLOUR if minutes >= 0 else FASTER_COLOUR)
        waterfall.text(max(running, running + minutes), row, f" {minutes:+.1f}", va="center", fontsize=8)
        running += minutes
    waterfall.barh(len(steps) + 1, eta, color="#1e8449")
    waterfall.text(eta, len(steps) + 1, f" {eta:.1f} min", va="center", fontsize=8)
    waterfall.set_yticks(range(len(labels)), labels, fontsize=8)
    waterfall.invert_yaxis()
    waterfall.set_xlabel("minutes (red: slower, blue: faster)", fontsize=8)
    waterfall.set_title("Why this ETA: SHAP contributions from the base value", fontsize=9)
    if quantiles:
        band.axvspan(quantiles["p05"], quantiles["p95"], color=BAND_COLOUR, alpha=0.5, label="p05-p95")
        band.axvspan(quantiles["p25"], quantiles["p75"], color=BAND_COLOUR, alpha=1.0, label="p25-p75")
        band.axvline(quantiles["p50"], color="#1b4f72", linewidth=1.5, label="p50")
        band.axvline(eta, color="#1e8449", linewidth=2.5, linestyle="--", label="point ETA")
        band.set_xlim(min(quantiles["p05"], eta) - 3, max(quantiles["p95"], eta) + 3)
        band.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.75), frameon=False)
    band.set_yticks([])
    band.set_xlabel("delivery minutes", fontsize=8)
    band.set_title("Quantile band", fontsize=9)
    band.tick_params(labelsize=8)
    waterfall.tick_params(labelsize=8)
    figure.tight_layout()
    return png_data_uri(figure)


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "missing" if value is None else str(value)
