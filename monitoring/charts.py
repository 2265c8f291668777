"""Reference-vs-current plots of a drift report's features (matplotlib, rendered to inline PNG for the admin).

Drawn from the histograms the statistics stored with the report (`FeatureHistogram.as_dict()`, computed while
both windows were in memory), so a plot needs neither the training data nor the audit rows again.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

REFERENCE_COLOUR = "#3b6ea5"
CURRENT_COLOUR = "#d9822b"


@dataclass(frozen=True)
class Chart:
    title: str
    data_uri: str


def _png_data_uri(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def histogram_chart(title: str, histogram: Mapping[str, Any]) -> Chart | None:
    """One feature's reference and current densities side by side; None when the histogram is empty."""
    reference = np.array([value or 0.0 for value in histogram["reference_density"]], dtype=float)
    current = np.array([value or 0.0 for value in histogram["current_density"]], dtype=float)
    if reference.size == 0:
        return None
    figure, axes = plt.subplots(figsize=(4.2, 2.4))
    if histogram["kind"] == "numeric":
        edges = np.array(histogram["bin_edges"], dtype=float)
        axes.stairs(reference, edges, fill=True, alpha=0.45, color=REFERENCE_COLOUR, label="reference")
        axes.stairs(current, edges, linewidth=1.8, color=CURRENT_COLOUR, label="current")
        axes.set_ylabel("density", fontsize=7)
    else:
        positions = np.arange(reference.size)
        axes.bar(positions - 0.2, reference, width=0.4, color=REFERENCE_COLOUR, label="reference")
        axes.bar(positions + 0.2, current, width=0.4, color=CURRENT_COLOUR, label="current")
        axes.set_xticks(positions, histogram["categories"], rotation=30, ha="right")
        axes.set_ylabel("share", fontsize=7)
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    return Chart(title, _png_data_uri(figure))


def drift_report_charts(result: Mapping[str, Any]) -> list[Chart]:
    """Plots of every drifted test of a stored drift result (features, missing shares, predicted ETA)."""
    charts = []
    checks = [*result.get("features", []), *([result["prediction"]] if result.get("prediction") else [])]
    for check in checks:
        if not check.get("is_drifted") or not check.get("histogram"):
            continue
        label = "missing share" if check["kind"] == "missing_share" else check["effect_metric"]
        title = f"{check['feature']} ({label} {check['effect_size']:.3g}, severity {check['severity']})"
        chart = histogram_chart(title, check["histogram"])
        if chart is not None:
            charts.append(chart)
    return charts
