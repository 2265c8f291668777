"""The quality score's formula and its parts, on constructed batches (no database)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from core.delivery.quality import WEIGHTS, assess_quality, robust_outliers
from core.delivery.schema import normalize_row
from core.tests.delivery.rows import raw_row

KOLKATA = ZoneInfo("Asia/Kolkata")


def batch(raws: list[dict[str, str]]) -> tuple[list[dict[str, str]], pd.DataFrame, int]:
    results = [normalize_row(raw, line_number=i + 2, time_zone=KOLKATA) for i, raw in enumerate(raws)]
    accepted = pd.DataFrame([r.delivery.as_dict() for r in results if r.delivery])
    return raws, accepted, sum(r.delivery is None for r in results)


def varied_rows(count: int) -> list[dict[str, str]]:
    return [
        raw_row(order_id=f"0x{i}", delivery_minutes=str(20 + i % 10), courier_age=str(25 + i % 8)) for i in range(count)
    ]


def test_perfect_first_batch_scores_100() -> None:
    raws, accepted, rejected = batch(varied_rows(50))
    result = assess_quality(
        raw_rows=raws, accepted=accepted, rows_rejected=rejected, duplicates_in_file=0, reference=None
    )
    assert result.score == pytest.approx(100.0)
    assert result.components == {"validity": 1.0, "completeness": 1.0, "outliers": 1.0, "duplicates": 1.0, "shift": 1.0}


def test_score_is_the_documented_weighted_sum() -> None:
    raws = varied_rows(40) + [raw_row(order_id="bad", courier_rating="6")] * 10
    raws[0] = {**raws[0], "weather": "NaN"}
    raws, accepted, rejected = batch(raws)
    result = assess_quality(
        raw_rows=raws, accepted=accepted, rows_rejected=rejected, duplicates_in_file=5, reference=None
    )
    assert result.validity == pytest.approx(40 / 50)
    assert result.completeness["weather"] == pytest.approx(49 / 50)
    assert result.duplicate_share == pytest.approx(5 / 50)
    expected = 100 * sum(WEIGHTS[name] * value for name, value in result.components.items())
    assert result.score == pytest.approx(round(expected, 2))
    assert result.score < 95  # a fifth of the rows rejected must fail the default gate


def test_robust_outliers_flag_a_far_value_and_not_the_bulk() -> None:
    values = pd.Series([20.0, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 300])
    summary = robust_outliers(values)
    assert summary.count == 1
    assert summary.checked == 12


def test_distribution_change_against_earlier_data_lowers_the_score() -> None:
    raws, accepted, _ = batch(varied_rows(60))
    _, reference, _ = batch([raw_row(order_id=f"r{i}", traffic="Jam", delivery_minutes="45") for i in range(60)])
    same = assess_quality(raw_rows=raws, accepted=accepted, rows_rejected=0, duplicates_in_file=0, reference=accepted)
    shifted = assess_quality(
        raw_rows=raws, accepted=accepted, rows_rejected=0, duplicates_in_file=0, reference=reference
    )
    assert same.components["shift"] == pytest.approx(1.0)
    assert shifted.distribution_shift["traffic"]["total_variation"] == pytest.approx(1.0)
    assert shifted.distribution_shift["delivery_minutes"]["ks_statistic"] == pytest.approx(1.0)
    assert shifted.score == pytest.approx(same.score - 100 * WEIGHTS["shift"])
