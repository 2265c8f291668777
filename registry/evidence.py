"""The reviewer's evidence for a promotion: both versions on one evaluation window, fairness, plots.

Computed once when a promotion is requested and stored on the request, so the decision is made on a
record that does not change under the reviewer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from core.model import QUANTILE_LEVELS, QUANTILE_NAMES, ETAPredictor
from deliveries.selectors import deliveries_frame
from intellilog.admin import readable
from intellilog.charts import png_data_uri
from registry.choices import EvidenceSource
from registry.loader import model_version_load
from registry.models import ModelVersion, ShadowEvaluation
from registry.selectors import backtest_latest, promotion_gate, shadow_evaluation_latest
from registry.training import evaluate_on, training_data

if TYPE_CHECKING:
    import shap

METRIC_NAMES = ("mae", "rmse", "r2", "within_5_min", "interval_coverage", "count")
SHAP_TOP_FEATURES = 12
# A beeswarm of a thousand rows shows the spread of every feature's effect; more only costs render time.
SHAP_SAMPLE_ROWS = 1000
SHAP_SAMPLE_SEED = 0


def fairness_gap_figure(evaluation: Mapping[str, Any]) -> plt.Figure | None:
    """The MAE gap to overall of every segment of a stored evaluation, as horizontal bars; None without segments.

    Read from the version's own evaluation (`EvaluationReport.as_dict()`), so versions evaluated before the
    evidence carried gaps are drawn too. Bars above overall (worse) are red, below blue.
    """
    segments = evaluation.get("segments") or []
    if not segments:
        return None
    labels = [f"{segment['dimension']} = {segment['value']}" for segment in segments]
    gaps = [float(segment["mae_gap"]) for segment in segments]
    figure, axes = plt.subplots(figsize=(5.5, 0.22 * len(segments) + 1.2))
    axes.barh(labels, gaps, color=["#c0392b" if gap > 0 else "#2e86c1" for gap in gaps])
    axes.axvline(0, color="black", linewidth=0.8)
    axes.invert_yaxis()  # in the table's order, top to bottom
    axes.set_xlabel("MAE gap to overall (minutes; red: worse than overall)", fontsize=8)
    axes.tick_params(labelsize=7)
    return figure


def shap_sample(predictor: ETAPredictor, features: pd.DataFrame) -> shap.Explanation:
    """TreeSHAP values of the point ETA on a seeded sample of at most `SHAP_SAMPLE_ROWS` rows, in minutes.

    Each row's values plus its base value are that row's point ETA. Feature values ride along to colour the
    beeswarm; categorical ones stay text, which shap draws grey (their levels have no order to colour by).
    """
    # shap brings numba and llvmlite (about 75 MB in every process that imports it): loaded only when evidence
    # is drawn, not by every process that imports the admin.
    import shap

    sample = features.sample(n=min(len(features), SHAP_SAMPLE_ROWS), random_state=SHAP_SAMPLE_SEED)
    contributions = predictor.contributions(sample)
    return shap.Explanation(
        values=contributions.drop(columns="base").to_numpy(),
        base_values=contributions["base"].to_numpy(),
        data=sample[list(predictor.feature_names)].to_numpy(dtype=object),
        feature_names=list(predictor.feature_names),
    )


def shap_beeswarm_figure(explanation: shap.Explanation) -> plt.Figure:
    """The global SHAP summary: one dot per sampled order and feature, top features by mean |SHAP|."""
    import shap  # loaded on demand, as in shap_sample

    figure, axes = plt.subplots(figsize=(6.0, 0.32 * SHAP_TOP_FEATURES + 1.2))
    shap.plots.beeswarm(explanation, max_display=SHAP_TOP_FEATURES, ax=axes, show=False, plot_size=None, s=8)
    axes.set_xlabel("SHAP contribution to the point ETA (minutes)", fontsize=8)
    axes.tick_params(labelsize=7)
    return figure


def _plots(predictor: ETAPredictor, window: pd.DataFrame, features: pd.DataFrame) -> list[dict[str, str]]:
    actual = window["delivery_minutes"].to_numpy(dtype=np.float64)
    batch = predictor.predict_frame(features)
    plots = []

    figure = shap_beeswarm_figure(shap_sample(predictor, features))
    plots.append({"title": "SHAP summary (beeswarm): what moves the ETA", "data_uri": png_data_uri(figure)})

    figure, axes = plt.subplots(figsize=(4.5, 3.2))
    axes.scatter(batch.eta_minutes, actual - batch.eta_minutes, s=3, alpha=0.3, color="#5a9e6f")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xlabel("predicted ETA (minutes)")
    axes.set_ylabel("actual - predicted (minutes)")
    plots.append({"title": "Residuals against predicted ETA", "data_uri": png_data_uri(figure)})

    observed = [float(np.mean(actual <= batch.quantile(name))) for name in QUANTILE_NAMES]
    figure, axes = plt.subplots(figsize=(3.4, 3.2))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axes.plot(QUANTILE_LEVELS, observed, marker="o", color="#b5523b")
    axes.set_xlabel("nominal quantile level")
    axes.set_ylabel("share of deliveries at or below")
    plots.append({"title": "Interval calibration (quantiles)", "data_uri": png_data_uri(figure)})
    return plots


def ab_test_evidence(*, version: ModelVersion, champion: ModelVersion | None) -> dict[str, object]:
    """The shadow A/B test's latest look at `version` against `champion`, as the approval page shows it.

    ``summary`` reads "challenger significantly better (p=…, n=…, effect …)" or "no significant evidence
    (…)"; ``is_override_required`` is the significance gate `promotion_request_approve` applies.
    """
    gate = promotion_gate(version=version, champion=champion)
    return {
        "champion_version": champion.version if champion else None,
        "is_significant": gate.is_significant,
        "is_override_required": gate.is_override_required,
        "summary": gate.summary,
        "look": _look(gate.evaluation) if gate.evaluation is not None else None,
    }


def backfilled_ab_test_evidence(*, version: ModelVersion, champion: ModelVersion | None) -> dict[str, object] | None:
    """The latest look at the backfilled A/B test of `version` against `champion`; None without one.

    Shown apart from the live test and never read by the promotion gate: its pairs were scored on stored
    history after the fact (`backfill_predictions`), not served.
    """
    if champion is None:
        return None
    evaluation = shadow_evaluation_latest(champion=champion, challenger=version, source=EvidenceSource.BACKFILLED)
    if evaluation is None:
        return None
    return {"summary": evaluation.summary, "look": _look(evaluation)}


def _look(evaluation: ShadowEvaluation) -> dict[str, object]:
    return {
        "look": evaluation.look,
        "pairs": evaluation.pairs,
        "outcome": evaluation.get_outcome_display(),
        "p_value": "-" if evaluation.p_value is None else f"{evaluation.p_value:.3g}",
        "boundary": f"{evaluation.boundary:.3g}",
        "effect_minutes": readable("effect_minutes", evaluation.effect_minutes),
        "min_effect_minutes": readable("min_effect_minutes", evaluation.decision.get("min_effect_minutes")),
        "champion_mae": readable("mae", evaluation.champion_mae),
        "challenger_mae": readable("mae", evaluation.challenger_mae),
        "reasons": list(evaluation.decision.get("reasons", [])),
        "recorded_at": readable("created_at", evaluation.created_at),
    }


def promotion_evidence(*, version: ModelVersion, champion: ModelVersion | None) -> dict[str, object]:
    """Metrics of `version` and of the champion on `version`'s evaluation window, its fairness report, plots.

    Also the shadow A/B test as it stood when the request was made (``ab_test``); the approval page shows
    its latest look instead while the request is pending, since outcomes keep arriving.
    """
    recorded = version.lineage["data"]
    ordered_before = dt.datetime.fromisoformat(recorded["ordered_before"]) if recorded["ordered_before"] else None
    history = deliveries_frame(
        tenant=version.tenant, ordered_before=ordered_before, id_at_most=recorded["delivery_id_at_most"]
    )
    data = training_data(history=history, time_zone=ZoneInfo(version.tenant.time_zone))
    window, features = history[data.is_evaluation], data.features[data.is_evaluation]
    candidate = model_version_load(version=version)
    candidate_report = evaluate_on(candidate, deliveries=window, features=features)
    champion_metrics: dict[str, object] = {}
    if champion is not None:
        champion_metrics = evaluate_on(
            model_version_load(version=champion), deliveries=window, features=features
        ).overall.as_dict()
    candidate_metrics = candidate_report.overall.as_dict()
    worst = candidate_report.worst_segment
    return {
        "window": {
            "start": readable("start", window["ordered_at"].min()),
            "end": readable("end", window["ordered_at"].max()),
            "rows": len(window),
        },
        "champion_version": champion.version if champion else None,
        "candidate_metrics": candidate_metrics,
        "champion_metrics": champion_metrics,
        "metric_rows": [
            {
                "name": name,
                "candidate": readable(name, candidate_metrics.get(name)),
                "champion": readable(name, champion_metrics.get(name)) if champion_metrics else "",
            }
            for name in METRIC_NAMES
        ],
        "fairness": {
            "worst_segment": f"{worst.dimension} = {worst.value}" if worst else "-",
            "worst_gap": f"{worst.mae_gap:+.2f}" if worst else "-",
            "rows": [
                {
                    "segment": f"{segment.dimension} = {segment.value}",
                    "rows": segment.metrics.count,
                    "mae": readable("mae", segment.metrics.mae),
                    "within_5": readable("within_5_min", segment.metrics.within_5_min),
                    "coverage": readable("interval_coverage", segment.metrics.interval_coverage),
                }
                for segment in candidate_report.segments
            ],
        },
        "plots": _plots(candidate, window, features),
        "ab_test": ab_test_evidence(version=version, champion=champion),
    }


BACKTEST_METRICS = ("rows", "mae", "bias", "within_5_min", "interval_coverage")


def _backtest_chart(
    days: list[str], candidate: list[float], champion: list[float | None], labels: tuple[str, str]
) -> str:
    figure, axes = plt.subplots(figsize=(6.0, 2.6))
    positions = np.arange(len(days))
    axes.plot(positions, candidate, marker="o", color="#b5523b", label=labels[0])
    if any(value is not None for value in champion):
        axes.plot(
            positions, [np.nan if v is None else v for v in champion], marker="s", color="#3b6ea5", label=labels[1]
        )
    axes.set_xticks(positions, days, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("MAE (minutes)")
    axes.legend(fontsize=7)
    return png_data_uri(figure)


def backtest_comparison(*, version: ModelVersion, champion: ModelVersion | None) -> dict[str, object] | None:
    """The candidate's latest backtest beside the champion's over the same days, per day and overall.

    None when the candidate has no backtest. ``champion_backtest_id`` is None when the champion has none
    over exactly those days (the page then offers to compute it); days are matched by date, so a day only
    one of them had deliveries on shows "-" for the other.
    """
    candidate = backtest_latest(version=version)
    if candidate is None:
        return None
    compared = (
        backtest_latest(version=champion, start=candidate.start_date, end=candidate.end_date) if champion else None
    )
    champion_days = {day["day"]: day for day in compared.days} if compared else {}
    rows = []
    for day in candidate.days:
        other = champion_days.get(day["day"])
        rows.append(
            {
                "day": day["day"],
                "is_in_training": day["is_in_training"],
                "candidate": [readable(name, day[name]) for name in BACKTEST_METRICS],
                "champion": [readable(name, other[name]) if other else "-" for name in BACKTEST_METRICS],
            }
        )
    labels = (f"v{version.version} (this version)", f"v{champion.version} (champion)" if champion else "")
    return {
        "start": candidate.start_date.isoformat(),
        "end": candidate.end_date.isoformat(),
        "candidate_backtest_id": candidate.pk,
        "champion_version": champion.version if champion else None,
        "champion_backtest_id": compared.pk if compared else None,
        "metrics": list(BACKTEST_METRICS),
        "overall": {
            "candidate": [readable(name, candidate.overall[name]) for name in BACKTEST_METRICS],
            "champion": [readable(name, compared.overall[name]) for name in BACKTEST_METRICS] if compared else [],
        },
        "rows": rows,
        "chart": _backtest_chart(
            [day["day"] for day in candidate.days],
            [day["mae"] for day in candidate.days],
            [champion_days[day["day"]]["mae"] if day["day"] in champion_days else None for day in candidate.days],
            labels,
        ),
    }
