"""Pictures of the monitoring reports (matplotlib, rendered to inline PNG for the admin).

A drift report's features, reference against current, and an accuracy report's version over time.

Drawn from the histograms the statistics stored with the report (`FeatureHistogram.as_dict()`, computed while
both windows were in memory), so a plot needs neither the training data nor the audit rows again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from intellilog.charts import png_data_uri

REFERENCE_COLOUR = "#3b6ea5"
CURRENT_COLOUR = "#d9822b"


@dataclass(frozen=True)
class Chart:
    title: str
    data_uri: str


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
    return Chart(title, png_data_uri(figure))


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


def accuracy_history_figure(reports: Sequence[Any]) -> plt.Figure | None:
    """Realized MAE and the CUSUM statistic of a version's reports over time, each against its limit line.

    `reports` are AccuracyReports in time order. The MAE limit is the baseline MAE at the window's hours raised
    by the tolerance (where a window counts as degraded); the CUSUM is drawn over its threshold, so alarms are
    above 1. None when no report measured an MAE.
    """
    measured = [report for report in reports if report.mae is not None]
    if not measured:
        return None
    figure, (mae_axis, cusum_axis) = plt.subplots(2, 1, figsize=(7.0, 4.6), sharex=True)
    times = [report.window_end for report in measured]
    mae_axis.plot(times, [report.mae for report in measured], marker=".", color=CURRENT_COLOUR, label="realized MAE")
    limits = [
        (report.window_end, report.baseline_mae * (1 + report.tolerance))
        for report in measured
        if report.baseline_mae is not None
    ]
    if limits:
        mae_axis.plot(*zip(*limits, strict=True), linestyle="--", color="#c0392b", label="degradation limit")
    mae_axis.set_ylabel("minutes", fontsize=8)
    mae_axis.set_title("Realized MAE of this version (last 7 days)", fontsize=9)
    mae_axis.legend(fontsize=7)
    ratios = [(report.window_end, report.cusum_ratio) for report in measured if report.cusum_ratio is not None]
    if ratios:
        cusum_axis.plot(*zip(*ratios, strict=True), marker=".", color=REFERENCE_COLOUR, label="CUSUM / threshold")
    cusum_axis.axhline(1.0, linestyle="--", color="#c0392b", label="alarm threshold")
    cusum_axis.set_title("Sequential change statistic (above 1: alarm)", fontsize=9)
    cusum_axis.legend(fontsize=7)
    figure.autofmt_xdate()
    return figure
