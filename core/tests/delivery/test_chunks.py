"""The columnar normaliser decides every row exactly as `normalize_row` does (no database)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.delivery.chunks import ACCEPTED_COLUMNS, FIX_KINDS, normalize_chunk, normalized_chunks
from core.delivery.schema import (
    RAW_COLUMNS,
    RawChunk,
    SchemaError,
    normalize_row,
    read_raw_chunks,
    read_raw_rows,
)
from core.tests.delivery.rows import raw_row, write_rows

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ZONES = [ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York"), ZoneInfo("UTC")]

# Values each column may take: the real files' spellings, near misses, and the odd forms float(),
# strptime and fromisoformat still read, so both the fast path and the fallback are exercised.
_NUMBERS = ["37", " 4.9 ", "6", "0", "-0", "1e1", "+5", ".5", "5.", "1_0", "NaN", "inf", "", "abc", "\u0661", "15"]
_COORDINATES = ["22.745049", "-22.745049", "0", "0.0", "75.892471", "-75.9", "91", "181", "NaN ", "1e2", "22.7"]
_DATES = ["2022-03-19", "2022-02-30", "20220319", "2022-W11-6", "2262-04-12", "1600-01-01", "NaN", "2026-03-08"]
_DATES += ["2025-11-02", "2026-06-02", "2026-05-31", "2024-02-29", "2023-02-29", "0000-01-01"]
_CLOCKS = ["11:30:00", "23:50:00", "00:05:00", "1:2:3", "02:30:00", "01:30", "24:00:00", "11:60:00", "12:00:60", ""]
_CLOCKS += ["NaN", "9:05", "12:30:", "07:00:00", "01:59:59"]
_CATEGORIES = ["Sunny", "sunny ", "Fog", "rocket", "", "NaN", "Metropolitian ", "Semi-Urban", "semi_urban", "High "]
_CATEGORIES += ["Jam", "motorcycle ", "van", "scooter", "Low", "Urban ", "Other", "\u0130", "nan"]
_IDS = ["0x4607 ", "0x1", " ", "NaN", "INDORES13DEL02 ", "caf\u00e9", "0x1\u00a0"]
_CHOICES: dict[str, list[str]] = {
    "order_id": _IDS,
    "courier_id": _IDS,
    "courier_age": [*_NUMBERS, "14", "80", "80.5", "30.7"],
    "courier_rating": [*_NUMBERS, "4.65", "1", "5.0"],
    "store_latitude": _COORDINATES,
    "store_longitude": _COORDINATES,
    "drop_latitude": _COORDINATES,
    "drop_longitude": _COORDINATES,
    "order_date": _DATES,
    "order_time": _CLOCKS,
    "pickup_time": _CLOCKS,
    "weather": _CATEGORIES,
    "traffic": _CATEGORIES,
    "vehicle": _CATEGORIES,
    "area": _CATEGORIES,
    "delivery_minutes": [*_NUMBERS, "24", "300", "301", "0.5", "1"],
}


def _value(column: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(_CHOICES[column]), st.text(max_size=6))


# A good row with a few columns changed, so that many rows pass and their repairs are compared too.
_changes = st.lists(st.sampled_from(RAW_COLUMNS).flatmap(lambda c: st.tuples(st.just(c), _value(c))), max_size=4)
_rows = st.lists(_changes.map(lambda changes: raw_row(**dict(changes))), min_size=1, max_size=25)


def chunk_of(rows: list[dict[str, str]]) -> RawChunk:
    return RawChunk(
        header=RAW_COLUMNS,
        line_numbers=[index + 2 for index in range(len(rows))],
        columns={column: tuple(row[column] for row in rows) for column in RAW_COLUMNS},
    )


def by_row(rows: list[dict[str, str]], time_zone: ZoneInfo, outcome_required: bool) -> tuple[list, list]:  # type: ignore[type-arg]
    """What normalize_row says per row: accepted deliveries as comparable tuples, and the rejections."""
    accepted, rejected = [], []
    for index, raw in enumerate(rows):
        result = normalize_row(
            raw, line_number=index + 2, time_zone=time_zone, outcome_required=outcome_required, now=NOW
        )
        if result.delivery is None:
            rejected.append((result.line_number, result.errors, result.raw))
            continue
        fields = result.delivery.as_dict()
        fixes = fields.pop("fixes")
        for name in ("ordered_at", "picked_at"):
            fields[name] = None if fields[name] is None else pd.Timestamp(fields[name]).tz_convert("UTC")
        accepted.append((result.line_number, fields, {kind: kind in fixes for kind in FIX_KINDS}))
    return accepted, rejected


def by_chunk(rows: list[dict[str, str]], time_zone: ZoneInfo, outcome_required: bool) -> tuple[list, list]:  # type: ignore[type-arg]
    result = normalize_chunk(chunk_of(rows), time_zone=time_zone, now=NOW, outcome_required=outcome_required)
    assert list(result.accepted.columns) == list(ACCEPTED_COLUMNS)
    accepted = []
    for record in result.accepted.to_dict("records"):
        line_number = record.pop("line_number")
        fixes = {kind: bool(record.pop(f"fix_{kind}")) for kind in FIX_KINDS}
        # pandas holds a missing value as NaN, NaT or None depending on the column's dtype.
        record = {name: None if pd.isna(value) else value for name, value in record.items()}
        accepted.append((line_number, record, fixes))
    return accepted, [(r.line_number, r.errors, r.raw) for r in result.rejected]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, time_zone=st.sampled_from(ZONES), outcome_required=st.booleans())
def test_chunk_decides_every_row_as_normalize_row_does(
    rows: list[dict[str, str]], time_zone: ZoneInfo, outcome_required: bool
) -> None:
    expected_accepted, expected_rejected = by_row(rows, time_zone, outcome_required)
    accepted, rejected = by_chunk(rows, time_zone, outcome_required)

    assert rejected == expected_rejected
    assert len(accepted) == len(expected_accepted)
    for (line, fields, fixes), (expected_line, expected_fields, expected_fixes) in zip(
        accepted, expected_accepted, strict=True
    ):
        assert (line, fixes) == (expected_line, expected_fixes)
        assert fields == expected_fields
        assert type(fields["courier_age"]) is int or fields["courier_age"] == int(fields["courier_age"])


def test_wait_across_a_daylight_saving_change_is_judged_on_the_wall_clock() -> None:
    """01:30 to 07:45 on the night clocks go forward is 6:15 on the wall (refused) but 5:15 in UTC."""
    row = raw_row(order_date="2026-03-08", order_time="01:30:00", pickup_time="07:45:00")
    accepted, rejected = by_chunk([row], ZoneInfo("America/New_York"), True)
    assert (accepted, rejected) == ([], by_row([row], ZoneInfo("America/New_York"), True)[1])
    assert rejected[0][1][0].column == "pickup_time"


def test_chunks_hold_at_most_the_chunk_size_and_together_every_row(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "h.csv", [raw_row(order_id=f"0x{i}") for i in range(23)])

    chunks = list(read_raw_chunks(path, chunk_rows=5))

    assert [len(chunk) for chunk in chunks] == [5, 5, 5, 5, 3]
    assert [(line, chunk.raw(i)) for chunk in chunks for i, line in enumerate(chunk.line_numbers)] == list(
        read_raw_rows(path)
    )


def test_completeness_counts_missing_values_as_the_quality_check_does() -> None:
    rows = [raw_row(), raw_row(weather="NaN "), raw_row(weather=" \u00a0"), raw_row(weather="\u00e9")]
    assert normalize_chunk(chunk_of(rows), time_zone=ZONES[0], now=NOW).present["weather"] == 2


def test_normalised_ahead_in_a_thread_the_chunks_are_the_same_and_errors_arrive_at_their_chunk(tmp_path: Path) -> None:
    rows = [raw_row(order_id=f"0x{i}", courier_rating="7" if i % 4 == 0 else "4.5") for i in range(12)]
    path = write_rows(tmp_path / "h.csv", rows)
    expected = [normalize_chunk(chunk, time_zone=ZONES[0], now=NOW) for chunk in read_raw_chunks(path, chunk_rows=5)]

    ahead = list(normalized_chunks(path, chunk_rows=5, time_zone=ZONES[0], now=NOW))

    assert [(c.rows, c.rejected, c.present) for c in ahead] == [(c.rows, c.rejected, c.present) for c in expected]
    for chunk, expected_chunk in zip(ahead, expected, strict=True):
        pd.testing.assert_frame_equal(chunk.accepted, expected_chunk.accepted)

    broken = tmp_path / "broken.csv"
    broken.write_text(path.read_text().replace("0x9,", "0x9,extra,"))
    reader = normalized_chunks(broken, chunk_rows=5, time_zone=ZONES[0], now=NOW)
    assert next(reader).rows == 5
    with pytest.raises(SchemaError, match="line 11 has 17 fields"):
        next(reader)
    assert not [thread for thread in threading.enumerate() if thread.name == "import-normalise"]


def test_a_reader_closed_early_stops_its_thread(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "h.csv", [raw_row(order_id=f"0x{i}") for i in range(30)])
    reader = normalized_chunks(path, chunk_rows=2, time_zone=ZONES[0], now=NOW)
    next(reader)

    reader.close()

    assert not [thread for thread in threading.enumerate() if thread.name == "import-normalise"]
