"""The model card of one model version: what it is, what it learned from, how good it is, who let it serve.

Built only from what the registry recorded (the version, its lineage and evaluation, its promotion requests
and events), the feature set's registered descriptions and the snapshot's import batches: no artifact is
loaded and nothing is recomputed, so the card shows the record. Every value is already text, so the admin
page and the Markdown download (`model_card_markdown`) show exactly the same facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass

from django.db.models import Q

from core.evaluation import MIN_SEGMENT_SIZE, WITHIN_MINUTES
from core.features import FEATURE_SET_NAME, FEATURE_SET_VERSION, FEATURES
from deliveries.selectors import snapshot_import_batches
from features.selectors import feature_set_definitions
from registry.constants import (
    EVALUATION_DAYS,
    TARGET_INTERVAL_COVERAGE,
    TARGET_MAE_MINUTES,
    TARGET_WITHIN_5_MIN,
)
from registry.models import ModelVersion, PromotionRequest, RegistryEvent

NOT_RECORDED = "not recorded"
# Parameters shown as their own sections or facts rather than in the parameter list.
_PARAMS_SHOWN_ELSEWHERE = ("feature_names", "seed")


@dataclass(frozen=True)
class Fact:
    """One labelled value of the card."""

    label: str
    value: str


@dataclass(frozen=True)
class FeatureRow:
    name: str
    kind: str
    entity: str
    description: str


@dataclass(frozen=True)
class BatchRow:
    """An import batch (or the API-reported outcomes) that brought deliveries into the training snapshot."""

    batch: str
    file_sha256: str
    rows: str
    quality: str


@dataclass(frozen=True)
class SegmentRow:
    segment: str
    rows: str
    mae: str
    mae_gap: str
    within_5: str
    coverage: str


@dataclass(frozen=True)
class RequestRow:
    """A promotion request of this version and its decision (maker-checker)."""

    number: str
    status: str
    requested_by: str
    requested_at: str
    reason: str
    decided_by: str
    decided_at: str
    decision_comment: str


@dataclass(frozen=True)
class EventRow:
    """A registry event that moved to or from this version (registered, requested, promoted, rolled back...)."""

    at: str
    kind: str
    actor: str
    change: str
    reason: str


@dataclass(frozen=True)
class ModelCard:
    """The card's sections, every value as display text."""

    title: str
    details: tuple[Fact, ...]
    training_data: tuple[Fact, ...]
    import_batches: tuple[BatchRow, ...]
    features_note: str
    features: tuple[FeatureRow, ...]
    procedure: tuple[Fact, ...]
    parameters: tuple[Fact, ...]
    libraries: tuple[Fact, ...]
    evaluation_note: str
    metrics: tuple[Fact, ...]
    worst_segment: str
    segments: tuple[SegmentRow, ...]
    intended_use: tuple[str, ...]
    limitations: tuple[str, ...]
    promotion_requests: tuple[RequestRow, ...]
    events: tuple[EventRow, ...]


def _text(value: object) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _minutes(value: object) -> str:
    return f"{value:.3f} min" if isinstance(value, int | float) else NOT_RECORDED


def _share(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else NOT_RECORDED


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else _text(value)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _details(version: ModelVersion) -> tuple[Fact, ...]:
    aliases = sorted(version.aliases.values_list("alias", flat=True))
    status = version.get_status_display() + (f" ({version.status_detail})" if version.status_detail else "")
    return (
        Fact("Tenant", f"{version.tenant.name} ({version.tenant.slug})"),
        Fact("Model", version.registered_model.name),
        Fact("Version", str(version.version)),
        Fact("Status", status),
        Fact("Aliases", ", ".join(aliases) if aliases else "none (neither champion nor challenger)"),
        Fact("Artifact sha256", _text(version.artifact_sha256)),
        Fact("Artifact path", _text(version.artifact_path)),
        Fact("Created by", _text(version.created_by)),
        Fact("Created at", _when(version.created_at)),
        Fact("MLflow run id", _text(version.mlflow_run_id)),
    )


def _training_data(version: ModelVersion, data: Mapping[str, object]) -> tuple[Fact, ...]:
    feature_set = _mapping(version.lineage.get("feature_set"))
    ordered_before = data.get("ordered_before")
    selection = NOT_RECORDED
    if "delivery_id_at_most" in data:
        selection = f"deliveries of {_text(data.get('tenant'))} with id <= {data['delivery_id_at_most']}" + (
            f", ordered before {ordered_before}" if ordered_before else ", all order dates"
        )
    window = NOT_RECORDED
    if data.get("evaluation_start"):
        window = (
            f"ordered after {data['evaluation_start']} ({_number(data.get('evaluation_rows'))} deliveries, "
            f"the last {EVALUATION_DAYS} days, held out from training)"
        )
    return (
        Fact("Deliveries (rows)", _number(data.get("rows"))),
        Fact("Ordered from", _text(data.get("ordered_at_min"))),
        Fact("Ordered until", _text(data.get("ordered_at_max"))),
        Fact("Snapshot selection", selection),
        Fact("Content sha256", _text(data.get("content_sha256"))),
        Fact("Evaluation window", window),
        Fact(
            "Feature set",
            f"{feature_set.get('name')} v{feature_set.get('version')}" if feature_set else NOT_RECORDED,
        ),
    )


def _import_batches(version: ModelVersion, data: Mapping[str, object]) -> tuple[BatchRow, ...]:
    if "delivery_id_at_most" not in data:
        return ()
    ordered_before, plausible_at = data.get("ordered_before"), data.get("plausible_at")
    sources = snapshot_import_batches(
        tenant=version.tenant,
        ordered_before=dt.datetime.fromisoformat(ordered_before) if isinstance(ordered_before, str) else None,
        id_at_most=data["delivery_id_at_most"],  # type: ignore[arg-type]
        plausible_at=dt.datetime.fromisoformat(plausible_at) if isinstance(plausible_at, str) else None,
    )
    rows = []
    for source in sources:
        if source.quality_score is None:
            quality = "-"
        else:
            quality = f"{source.quality_score:.2f}" + ("" if source.passes_gate else " (fails the gate)")
        batch = f"#{source.batch_id} {source.file_name}" if source.batch_id is not None else source.file_name
        rows.append(BatchRow(batch, source.file_sha256 or "-", f"{source.rows:,}", quality))
    return tuple(rows)


def _features(version: ModelVersion) -> tuple[str, tuple[FeatureRow, ...]]:
    feature_set = _mapping(version.lineage.get("feature_set"))
    names = _mapping(version.lineage.get("params")).get("feature_names")
    if not isinstance(names, list) or not feature_set:
        return "No feature list recorded for this version.", ()
    name, number = str(feature_set.get("name")), feature_set.get("version")
    definitions = feature_set_definitions(name=name, version=number) if isinstance(number, int) else None
    source = "the feature set registry"
    if definitions is None and (name, number) == (FEATURE_SET_NAME, FEATURE_SET_VERSION):
        # Not materialised yet, so not registered: the code defines this very version.
        definitions = [feature.as_dict() for feature in FEATURES]
        source = "the code's definitions (this version is registered by its first materialisation)"
    by_name = {str(item["name"]): item for item in definitions or []}
    if definitions is None:
        note = f"The model reads these {len(names)} features; {name} v{number} is not registered, so no descriptions."
    else:
        note = (
            f"The model reads {len(names)} of the {len(by_name)} features of {name} v{number}, in this order; "
            f"descriptions from {source}."
        )
    rows = tuple(
        FeatureRow(
            feature,
            str(by_name.get(feature, {}).get("kind", "-")),
            str(by_name.get(feature, {}).get("entity", "-")),
            str(by_name.get(feature, {}).get("description", "-")),
        )
        for feature in names
    )
    return note, rows


def _procedure(version: ModelVersion) -> tuple[tuple[Fact, ...], tuple[Fact, ...], tuple[Fact, ...]]:
    lineage = version.lineage
    params = _mapping(lineage.get("params"))
    candidates = lineage.get("candidates") if isinstance(lineage.get("candidates"), list) else []
    tried = [
        f"{candidate.get('features')} features: validation MAE {_minutes(candidate.get('validation_mae'))}"
        + (" (chosen)" if candidate.get("sha256") == version.artifact_sha256 else "")
        for candidate in candidates
        if isinstance(candidate, Mapping)
    ]
    method = NOT_RECORDED
    if params:
        method = (
            "XGBoost squared-error booster for the point ETA (TreeSHAP explanations) and a multi-quantile booster "
            "for p05-p95, conformalised on the validation window; trained on the deliveries before the "
            "evaluation window"
        )
    procedure = (
        Fact("Method", method),
        Fact("Candidates compared on the validation window", "; ".join(tried) if tried else NOT_RECORDED),
        Fact("Seed", _text(lineage.get("seed", params.get("seed")))),
        Fact("Code version (git commit)", _text(lineage.get("code_version"))),
    )
    # Sorted: PostgreSQL's jsonb does not keep the order keys were written in.
    parameters = tuple(
        Fact(name, _text(params[name])) for name in sorted(params) if name not in _PARAMS_SHOWN_ELSEWHERE
    )
    libraries = tuple(Fact(name, _text(value)) for name, value in sorted(_mapping(lineage.get("libraries")).items()))
    return procedure, parameters, libraries


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _against_target(text: str, value: object, target: str, is_met: bool) -> str:
    if not _is_number(value):
        return text
    return f"{text} (target {target}: {'met' if is_met else 'NOT met'})"


def _metrics(metrics: Mapping[str, object]) -> tuple[Fact, ...]:
    """The stored evaluation metrics, each beside its target where the product has one."""
    mae, within_5, coverage, r2 = (metrics.get(name) for name in ("mae", "within_5_min", "interval_coverage", "r2"))
    low, high = TARGET_INTERVAL_COVERAGE
    is_mae_met = _is_number(mae) and mae <= TARGET_MAE_MINUTES  # type: ignore[operator]
    is_within_met = _is_number(within_5) and within_5 >= TARGET_WITHIN_5_MIN  # type: ignore[operator]
    is_coverage_met = _is_number(coverage) and low <= coverage <= high  # type: ignore[operator]
    return (
        Fact("Deliveries evaluated", _number(metrics.get("count"))),
        Fact("MAE", _against_target(_minutes(mae), mae, f"<= {TARGET_MAE_MINUTES} min", is_mae_met)),
        Fact("RMSE", _minutes(metrics.get("rmse"))),
        Fact("R²", f"{r2:.3f}" if _is_number(r2) else NOT_RECORDED),
        Fact(
            f"Within {WITHIN_MINUTES:g} min",
            _against_target(_share(within_5), within_5, f">= {TARGET_WITHIN_5_MIN:.0%}", is_within_met),
        ),
        Fact(
            "p05-p95 interval coverage",
            _against_target(_share(coverage), coverage, f"{low:.0%}-{high:.0%}", is_coverage_met),
        ),
    )


def _segment_name(segment: Mapping[str, object]) -> str:
    return f"{segment.get('dimension')} = {segment.get('value')}"


def _fairness(evaluation: Mapping[str, object]) -> tuple[str, tuple[SegmentRow, ...]]:
    worst = _mapping(evaluation.get("worst_segment"))
    if worst:
        worst_metrics = _mapping(worst.get("metrics"))
        worst_text = (
            f"{_segment_name(worst)}: MAE {_minutes(worst_metrics.get('mae'))}, "
            f"{_signed_minutes(worst.get('mae_gap'))} above overall"
        )
    else:
        worst_text = NOT_RECORDED if not evaluation else f"none (no segment of at least {MIN_SEGMENT_SIZE} deliveries)"
    segments = evaluation.get("segments") if isinstance(evaluation.get("segments"), list) else []
    rows = []
    for segment in segments:  # type: ignore[attr-defined]
        metrics = _mapping(segment.get("metrics"))
        rows.append(
            SegmentRow(
                _segment_name(segment),
                _number(metrics.get("count")),
                _minutes(metrics.get("mae")),
                _signed_minutes(segment.get("mae_gap")),
                _share(metrics.get("within_5_min")),
                _share(metrics.get("interval_coverage")),
            )
        )
    return worst_text, tuple(rows)


def _signed_minutes(value: object) -> str:
    return f"{value:+.3f} min" if _is_number(value) else NOT_RECORDED


def _intended_use(version: ModelVersion) -> tuple[str, ...]:
    tenant = version.tenant
    return (
        f"Predicting the delivery time (minutes from order to delivery) of food-delivery orders of tenant "
        f"{tenant.name} ({tenant.slug}), with a p05-p95 interval, a confidence score and the features that moved "
        "the ETA, for dispatch and customer-facing ETAs.",
        "Serves only as this tenant's champion (POST /api/v1/predictions/eta and /eta/batch, predict_batch, and the "
        "routing travel times when they use the ETA model), after a second person approved its promotion; as "
        "challenger it is only scored in the shadow for the A/B test.",
        "Not for other tenants' orders, other kinds of delivery, or orders whose inputs the model flags as out of "
        "distribution without a human look at them.",
    )


def _limitations(version: ModelVersion, data: Mapping[str, object]) -> tuple[str, ...]:
    params = _mapping(version.lineage.get("params"))
    metrics = version.metrics
    limitations = []
    if data:
        limitations.append(
            f"Learned only from this tenant's {_number(data.get('rows'))} deliveries ordered "
            f"{_text(data.get('ordered_at_min'))} to {_text(data.get('ordered_at_max'))}: conditions outside that "
            "period (new areas, seasons, holidays, fleet changes) are not represented. Monitoring's drift and "
            "realized-accuracy checks watch live traffic for them."
        )
    training_range = "the training range"
    if {"ood_lower_percentile", "ood_upper_percentile", "ood_margin_fraction"} <= params.keys():
        training_range += (
            f" (the {_text(params['ood_lower_percentile'])}-{_text(params['ood_upper_percentile'])} percentiles "
            f"widened by {_share(params['ood_margin_fraction'])} of the span)"
        )
    limitations.append(
        f"Orders with a numeric feature outside {training_range} or a category level never seen are still "
        "answered, but flagged (is_ood, out_of_range_features): treat their ETA and interval with caution."
    )
    unmet = [fact for fact in _metrics(metrics) if "NOT met" in fact.value]
    if unmet:
        limitations.append(
            "Accuracy targets not met on the evaluation window: "
            + "; ".join(f"{fact.label} {fact.value}" for fact in unmet)
            + "."
        )
    worst = _mapping(version.evaluation.get("worst_segment"))
    if worst:
        limitations.append(
            f"Least accurate for {_segment_name(worst)} ({_signed_minutes(worst.get('mae_gap'))} MAE above "
            f"overall); segments under {MIN_SEGMENT_SIZE} deliveries are reported but not ranked."
        )
    limitations.append(
        "Distances are straight-line (haversine) pickup-to-drop, not road distances. In the bundled public "
        "history the drop point is the store point plus an equal offset on both axes and about 8% of stores sit "
        "at (0, 0) (has_usable_coordinates = 0), so its geometry is semi-synthetic: a model trained on it has not "
        "learned real road geometry."
    )
    if "target_coverage" in params:
        limitations.append(
            f"The p05-p95 interval is calibrated to cover {_share(params['target_coverage'])} on the validation "
            "window; coverage on live traffic can differ when conditions change."
        )
    return tuple(limitations)


def _promotion_requests(version: ModelVersion) -> tuple[RequestRow, ...]:
    requests = PromotionRequest.objects.filter(version=version).select_related("requested_by", "decided_by")
    return tuple(
        RequestRow(
            number=f"#{request.pk}",
            status=request.get_status_display(),
            requested_by=request.requested_by.get_username(),
            requested_at=_when(request.created_at),
            reason=request.reason,
            decided_by=request.decided_by.get_username() if request.decided_by else "-",
            decided_at=_when(request.decided_at),
            decision_comment=request.decision_comment or "-",
        )
        for request in requests.order_by("created_at", "pk")
    )


def _version_label(version: ModelVersion | None) -> str:
    return f"v{version.version}" if version is not None else "-"


def _events(version: ModelVersion) -> tuple[EventRow, ...]:
    events = (
        RegistryEvent.objects.filter(Q(to_version=version) | Q(from_version=version))
        .select_related("from_version", "to_version")
        .order_by("created_at", "id")
    )
    return tuple(
        EventRow(
            at=_when(event.created_at),
            kind=event.get_kind_display(),
            actor=event.actor,
            change=f"{_version_label(event.from_version)} -> {_version_label(event.to_version)}",
            reason=event.reason or "-",
        )
        for event in events
    )


def model_version_card(*, version: ModelVersion) -> ModelCard:
    """The model card of `version`, from the registry's record (versions without lineage show "not recorded")."""
    data = _mapping(version.lineage.get("data"))
    features_note, features = _features(version)
    procedure, parameters, libraries = _procedure(version)
    worst_segment, segments = _fairness(version.evaluation)
    evaluation_note = (
        f"On the held-out evaluation window (the last {EVALUATION_DAYS} days of the snapshot), as recorded when "
        "the version was trained."
    )
    return ModelCard(
        title=f"Model card: {version}",
        details=_details(version),
        training_data=_training_data(version, data),
        import_batches=_import_batches(version, data),
        features_note=features_note,
        features=features,
        procedure=procedure,
        parameters=parameters,
        libraries=libraries,
        evaluation_note=evaluation_note,
        metrics=_metrics(version.metrics),
        worst_segment=worst_segment,
        segments=segments,
        intended_use=_intended_use(version),
        limitations=_limitations(version, data),
        promotion_requests=_promotion_requests(version),
        events=_events(version),
    )


def _cell(value: str) -> str:
    """A value made safe for one Markdown table cell."""
    return " ".join(value.split()).replace("|", "\\|") or "-"


def _table(header: Sequence[str], rows: Sequence[object]) -> list[str]:
    """A Markdown table of card rows (dataclasses whose fields are the columns, in order)."""
    if not rows:
        return ["None.", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(str(value)) for value in astuple(row)) + " |" for row in rows]  # type: ignore[call-overload]
    return [*lines, ""]


def _facts(facts: Sequence[Fact]) -> list[str]:
    if not facts:
        return [NOT_RECORDED.capitalize() + ".", ""]
    return [*(f"- **{fact.label}:** {' '.join(fact.value.split())}" for fact in facts), ""]


def model_card_markdown(card: ModelCard) -> str:
    """The card as a Markdown document, to attach to a change ticket; the same facts as the admin page."""
    lines = [f"# {card.title}", "", "## Model details", "", *_facts(card.details)]
    lines += ["## Training data", "", *_facts(card.training_data), "Import batches in the snapshot:", ""]
    lines += _table(("batch", "file sha256", "rows", "quality"), card.import_batches)
    lines += ["### Features", "", card.features_note, ""]
    lines += _table(("feature", "kind", "entity", "description"), card.features)
    lines += ["## Training procedure", "", *_facts(card.procedure)]
    lines += ["### Parameters", "", *_facts(card.parameters)]
    lines += ["### Library versions", "", *_facts(card.libraries)]
    lines += ["## Evaluation", "", card.evaluation_note, "", *_facts(card.metrics)]
    lines += ["## Fairness report", "", f"Worst segment: {card.worst_segment}", ""]
    lines += _table(("segment", "rows", "MAE", "gap to overall", "within 5 min", "p05-p95 coverage"), card.segments)
    lines += ["## Intended use", "", *[f"- {item}" for item in card.intended_use], ""]
    lines += ["## Limitations", "", *[f"- {item}" for item in card.limitations], ""]
    lines += ["## Approvals", "", "Promotion requests:", ""]
    lines += _table(
        ("request", "status", "requested by", "at", "reason", "decided by", "at", "comment"), card.promotion_requests
    )
    lines += ["Registry events of this version:", ""]
    lines += _table(("at", "event", "by", "from -> to", "reason"), card.events)
    return "\n".join(lines).rstrip() + "\n"
