"""Shadow A/B bench: how many outcomes the sequential test needs to decide, and how often it promotes an equal model.

    .venv/bin/python bench/ab.py [--data PATH] [--test-days 7] [--repetitions 1000] [--look-every 50]
                                 [--output bench/results/ab.json]

Models are trained once on the bundled history up to the test cut-off (as bench/accuracy.py does) and score the
orders of the last ``--test-days`` days, whose outcomes are known. Each pair of models is then replayed as live
shadow traffic: orders arrive in a random order (drawn with replacement from the test days), both models' absolute
errors are paired per order, and the production decision (`core.stats.ab_comparison.shadow_ab_decision`, with the
AB_* defaults of the settings) looks after every ``--look-every`` outcomes, as the hourly evaluation would, until
it decides or reaches its planned maximum. A repetition is one such replay.

Scenarios (champion -> challenger):
  large_gap            order features without traffic and weather -> the real model (order features)
  small_gap            order features without courier rating      -> the real model
  equal_seeds          the real model -> the same configuration retrained with another seed (equally good)
  equal_exchangeable   the two equally good models with their roles swapped at random per order: the exact null
                       hypothesis (no model better), so every "challenger better" is a false promotion.
For the equal scenarios the bench also reports the test without its minimum-effect gate (significance alone), and
the naive rate of a plain p < 0.05 at any look, which is what the alpha spending prevents. Target: false promotions
<= 5% when the models are equally good.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import scipy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.delivery.schema import load_clean_frame  # noqa: E402
from core.features import ORDER_FEATURES, build_training_features  # noqa: E402
from core.model import ETAPredictor, TrainingConfig  # noqa: E402
from core.stats.ab_comparison import ABTestSettings, shadow_ab_decision  # noqa: E402
from core.stats.champion_watch import WatchSettings, champion_worse_decision  # noqa: E402
from core.stats.effect_sizes import hodges_lehmann  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "ab.json"
TARGET_FALSE_PROMOTION_RATE = 0.05
NAIVE_ALPHA = 0.05
DEFAULT_MIN_EFFECT_MINUTES = 0.1  # AB_MIN_EFFECT_MINUTES's default in intellilog/settings.py
ORDER_FEATURE_NAMES = tuple(feature.name for feature in ORDER_FEATURES)
MODELS = {
    "real": TrainingConfig(feature_names=ORDER_FEATURE_NAMES),
    "real_seed_1": TrainingConfig(feature_names=ORDER_FEATURE_NAMES, seed=1),
    "no_traffic_weather": TrainingConfig(
        feature_names=tuple(name for name in ORDER_FEATURE_NAMES if name not in ("traffic", "weather"))
    ),
    "no_courier_rating": TrainingConfig(
        feature_names=tuple(name for name in ORDER_FEATURE_NAMES if name != "courier_rating")
    ),
}
SCENARIOS = {  # name: (champion, challenger, roles swapped at random per order)
    "large_gap": ("no_traffic_weather", "real", False),
    "small_gap": ("no_courier_rating", "real", False),
    "equal_seeds": ("real", "real_seed_1", False),
    "equal_exchangeable": ("real", "real_seed_1", True),
}

ROLLBACK_SCENARIOS = {  # name: (previous champion, promoted champion)
    "rollback_large_regression": ("real", "no_traffic_weather"),
    "rollback_small_regression": ("real", "no_courier_rating"),
    "rollback_equal": ("real", "real_seed_1"),
}
# Outcomes of the previous champion in the baseline window before the promotion (a week at a small tenant's volume).
ROLLBACK_BASELINE_OUTCOMES = 1000


@dataclass(frozen=True)
class Replay:
    """One replay: the first decisive look (or the planned end) and whether a naive p < 0.05 ever fired."""

    outcome: str
    outcomes_needed: int
    is_naive_promotion: bool
    is_promotion_without_effect_gate: bool


def _replay(
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    looks: list[int],
    settings: ABTestSettings,
    is_null: bool,
) -> Replay:
    """Look at one stream of paired errors as the hourly evaluation would; stop at the decision.

    Under a null scenario every look is taken (the naive rate and the gate-free rate need all of them).
    """
    without_gate = replace(settings, min_effect_minutes=0.0)
    decided: tuple[str, int] | None = None
    is_naive = is_gate_free = False
    for n in looks:
        decision = shadow_ab_decision(champion[:n], challenger[:n], settings=settings)
        if decided is None and decision.outcome != "keep_collecting":
            decided = (decision.outcome, n)
            if not is_null:
                break
        if is_null:
            p_value = decision.p_value
            is_naive = is_naive or (p_value is not None and p_value < NAIVE_ALPHA)
            if not is_gate_free:
                gate_free = shadow_ab_decision(champion[:n], challenger[:n], settings=without_gate)
                is_gate_free = gate_free.is_challenger_better
    assert decided is not None  # the planned end always decides
    return Replay(decided[0], decided[1], is_naive, is_gate_free)


def _summary(replays: list[Replay], *, is_null: bool) -> dict[str, object]:
    count = len(replays)
    better = [r.outcomes_needed for r in replays if r.outcome == "challenger_better"]
    not_better = [r.outcomes_needed for r in replays if r.outcome == "not_better"]
    decided = [r.outcomes_needed for r in replays]
    summary: dict[str, object] = {
        "repetitions": count,
        "challenger_better_rate": len(better) / count,
        "not_better_rate": len(not_better) / count,
        "outcomes_to_decide": _percentiles(decided),
        "outcomes_to_challenger_better": _percentiles(better),
    }
    if is_null:
        summary["false_promotion_rate"] = len(better) / count
        summary["false_promotion_rate_without_effect_gate"] = (
            sum(r.is_promotion_without_effect_gate for r in replays) / count
        )
        summary["naive_p_below_0_05_at_any_look_rate"] = sum(r.is_naive_promotion for r in replays) / count
    return summary


def _percentiles(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    return {name: float(np.percentile(array, q)) for name, q in (("p10", 10), ("median", 50), ("p90", 90))} | {
        "mean": float(array.mean())
    }


def _watch_replays(
    previous_all: np.ndarray,
    new_all: np.ndarray,
    *,
    repetitions: int,
    look_every: int,
    settings: WatchSettings,
    rng: np.random.Generator,
) -> dict[str, object]:
    """The post-promotion watch replayed: a baseline of the previous champion, then the new one's outcomes arriving."""
    looks = list(range(settings.min_outcomes, settings.planned_outcomes + 1, look_every))
    rolled_back_at = []
    for _ in range(repetitions):
        previous = previous_all[rng.integers(0, len(previous_all), size=ROLLBACK_BASELINE_OUTCOMES)]
        new = new_all[rng.integers(0, len(new_all), size=settings.planned_outcomes)]
        for n in looks:
            if champion_worse_decision(new[:n], previous, settings=settings).is_worse:
                rolled_back_at.append(n)
                break
    return {
        "repetitions": repetitions,
        "rollback_rate": len(rolled_back_at) / repetitions,
        "outcomes_to_rollback": _percentiles(rolled_back_at),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--time-zone", default="Asia/Kolkata")
    parser.add_argument("--repetitions", type=int, default=1000)
    parser.add_argument("--look-every", type=int, default=50, help="outcomes between two looks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-effect",
        type=float,
        default=DEFAULT_MIN_EFFECT_MINUTES,
        help="minimum improvement per order in minutes (default: the AB_MIN_EFFECT_MINUTES default)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    time_zone = ZoneInfo(args.time_zone)
    started = time.perf_counter()
    # The production defaults of AB_ALPHA, AB_MIN_PAIRS and AB_PLANNED_MAX_PAIRS are the stats core's; only the
    # minimum effect differs (intellilog/settings.py explains the choice with this bench's figures).
    settings = ABTestSettings(min_effect_minutes=args.min_effect)

    deliveries, _ = load_clean_frame(args.data, time_zone=time_zone)
    deliveries = deliveries.sort_values("ordered_at", kind="stable").reset_index(drop=True)
    features = build_training_features(deliveries, time_zone=time_zone)
    local_dates = deliveries["ordered_at"].dt.tz_convert(time_zone).dt.normalize()
    cutoff = local_dates.max() - pd.Timedelta(days=args.test_days - 1)
    completed_at = deliveries["ordered_at"] + pd.to_timedelta(deliveries["delivery_minutes"], unit="min")
    train = (completed_at < cutoff).to_numpy()
    test = (deliveries["ordered_at"] >= cutoff).to_numpy()
    y = deliveries["delivery_minutes"].to_numpy(dtype=np.float64)
    print(
        f"data: {args.data}: train {int(train.sum())} deliveries before {cutoff.date()}, test {int(test.sum())} after"
    )

    errors: dict[str, np.ndarray] = {}
    models: dict[str, dict[str, object]] = {}
    for name, config in MODELS.items():
        clock = time.perf_counter()
        model = ETAPredictor.train(features[train], y[train], ordered_at=deliveries["ordered_at"][train], config=config)
        errors[name] = np.abs(model.predict_frame(features[test]).eta_minutes - y[test])
        models[name] = {
            "features": list(config.feature_names),
            "seed": config.seed,
            "test_mae": float(errors[name].mean()),
            "sha256": model.sha256,
            "training_seconds": time.perf_counter() - clock,
        }
        print(f"model {name:<20} {len(config.feature_names):>2} features  test MAE {errors[name].mean():.3f} min")

    looks = list(range(settings.min_samples, settings.planned_max_samples + 1, args.look_every))
    if looks[-1] != settings.planned_max_samples:
        looks.append(settings.planned_max_samples)
    rng = np.random.default_rng(args.seed)
    test_count = int(test.sum())
    results: dict[str, dict[str, object]] = {}
    for scenario, (champion_name, challenger_name, is_swapped) in SCENARIOS.items():
        clock = time.perf_counter()
        is_null = scenario.startswith("equal")
        champion_all, challenger_all = errors[champion_name], errors[challenger_name]
        differences = champion_all - challenger_all
        replays = []
        for _ in range(args.repetitions):
            orders = rng.integers(0, test_count, size=settings.planned_max_samples)
            champion, challenger = champion_all[orders], challenger_all[orders]
            if is_swapped:
                swap = rng.random(settings.planned_max_samples) < 0.5
                champion, challenger = np.where(swap, challenger, champion), np.where(swap, champion, challenger)
            replays.append(_replay(champion, challenger, looks=looks, settings=settings, is_null=is_null))
        summary = _summary(replays, is_null=is_null)
        results[scenario] = {
            "champion": champion_name,
            "challenger": challenger_name,
            "roles_swapped_per_order": is_swapped,
            "test_mae_gap": float(differences.mean()),
            "test_median_paired_improvement": float(np.median(differences)),
            "test_hodges_lehmann_improvement": hodges_lehmann(differences),
            **summary,
            "seconds": time.perf_counter() - clock,
        }
        needed = summary["outcomes_to_challenger_better"]
        line = (
            f"{scenario:<19} MAE {champion_all.mean():.3f} -> {challenger_all.mean():.3f} "
            f"(paired improvement {results[scenario]['test_hodges_lehmann_improvement']:+.2f})  "
            f"challenger better {summary['challenger_better_rate']:.1%}, not better {summary['not_better_rate']:.1%}"
        )
        if needed:
            line += (
                f"; outcomes to decide better: median {needed['median']:.0f}, "
                f"p10 {needed['p10']:.0f}, p90 {needed['p90']:.0f}"
            )
        print(line)
        if is_null:
            print(
                f"{'':<19} false promotions {summary['false_promotion_rate']:.1%} (target <= "
                f"{TARGET_FALSE_PROMOTION_RATE:.0%}); without the effect gate "
                f"{summary['false_promotion_rate_without_effect_gate']:.1%}; naive p < 0.05 at any look "
                f"{summary['naive_p_below_0_05_at_any_look_rate']:.1%}"
            )

    # The automatic rollback's rule on the same models, with the ROLLBACK_* defaults of intellilog/settings.py.
    watch_settings = WatchSettings(alpha=0.05, min_outcomes=100, min_effect_minutes=0.25, planned_outcomes=500)
    rollbacks: dict[str, dict[str, object]] = {}
    for scenario, (previous_name, new_name) in ROLLBACK_SCENARIOS.items():
        clock = time.perf_counter()
        figures = _watch_replays(
            errors[previous_name],
            errors[new_name],
            repetitions=args.repetitions,
            look_every=args.look_every,
            settings=watch_settings,
            rng=rng,
        )
        rollbacks[scenario] = {
            "previous": previous_name,
            "promoted": new_name,
            "test_mae_increase": float(errors[new_name].mean() - errors[previous_name].mean()),
            **figures,
            "seconds": time.perf_counter() - clock,
        }
        needed = figures["outcomes_to_rollback"]
        print(
            f"{scenario:<26} MAE {errors[previous_name].mean():.3f} -> {errors[new_name].mean():.3f}  "
            f"rolled back {figures['rollback_rate']:.1%}"
            + (f", after median {needed['median']:.0f} outcomes (p90 {needed['p90']:.0f})" if needed else "")
        )

    worst_null = max(results[name]["false_promotion_rate"] for name in results if name.startswith("equal"))
    target = {
        "target": TARGET_FALSE_PROMOTION_RATE,
        "value": worst_null,
        "is_met": worst_null <= TARGET_FALSE_PROMOTION_RATE,
    }
    print(
        f"target false promotions <= {TARGET_FALSE_PROMOTION_RATE:.0%}: worst {worst_null:.1%} -> "
        f"{'met' if target['is_met'] else 'NOT met'}; total {time.perf_counter() - started:.0f}s"
    )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": " ".join(["bench/ab.py", *(argv if argv is not None else sys.argv[1:])]),
        "data": str(args.data),
        "cutoff": cutoff.isoformat(),
        "train_rows": int(train.sum()),
        "test_rows": test_count,
        "settings": asdict(settings),
        "look_every": args.look_every,
        "looks": len(looks),
        "seed": args.seed,
        "models": models,
        "scenarios": results,
        "rollback_settings": asdict(watch_settings),
        "rollback_baseline_outcomes": ROLLBACK_BASELINE_OUTCOMES,
        "rollback_scenarios": rollbacks,
        "target_false_promotion_rate": target,
        "seconds": time.perf_counter() - started,
        "platform": {"python": platform.python_version(), "scipy": scipy.__version__, "machine": platform.machine()},
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
