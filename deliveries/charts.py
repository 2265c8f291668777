"""Small server-side charts of a batch's column distributions (matplotlib, rendered to inline PNG)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import pandas as pd

from core.delivery.quality import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, derived_numeric_frame
from intellilog.charts import png_data_uri


@dataclass(frozen=True)
class Chart:
    title: str
    data_uri: str


def distribution_charts(deliveries: pd.DataFrame) -> list[Chart]:
    """One histogram per numeric column and one bar chart per categorical column."""
    if deliveries.empty:
        return []
    charts = []
    numeric = derived_numeric_frame(deliveries)
    for column in NUMERIC_COLUMNS:
        figure, axes = plt.subplots(figsize=(3.2, 2.0))
        axes.hist(numeric[column].dropna(), bins=30, color="#3b6ea5")
        axes.set_title(column, fontsize=9)
        axes.tick_params(labelsize=7)
        charts.append(Chart(column, png_data_uri(figure)))
    for column in CATEGORICAL_COLUMNS:
        counts = deliveries[column].fillna("(missing)").value_counts()
        figure, axes = plt.subplots(figsize=(3.2, 2.0))
        axes.bar(counts.index.astype(str), counts.to_numpy(), color="#5a9e6f")
        axes.set_title(column, fontsize=9)
        axes.tick_params(labelsize=7, axis="both")
        axes.tick_params(axis="x", rotation=30)
        charts.append(Chart(column, png_data_uri(figure)))
    return charts
