"""The row normaliser and file reader, on constructed rows and the real file (no database)."""

from __future__ import annotations

import datetime as dt
import gzip
import tempfile
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.delivery.schema import (
    RAW_COLUMNS,
    SchemaError,
    load_clean_frame,
    normalize_row,
    read_raw_chunks,
    read_raw_rows,
)
from core.delivery.schema import _plain_chunks as plain_chunks
from core.tests.delivery.rows import raw_row, write_rows

KOLKATA = ZoneInfo("Asia/Kolkata")


def normalise(**changes: str):  # type: ignore[no-untyped-def]
    return normalize_row(raw_row(**changes), line_number=2, time_zone=KOLKATA)


def reasons(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {error.column: error.reason for error in result.errors}


def test_clean_row_is_trimmed_and_mapped_to_canonical_values() -> None:
    result = normalise(area="Metropolitian ")
    delivery = result.delivery
    assert result.errors == []
    assert delivery.external_order_id == "0x4607"
    assert delivery.courier_id == "INDORES13DEL02"
    assert (delivery.weather, delivery.traffic, delivery.vehicle, delivery.area) == (
        "sunny",
        "high",
        "motorcycle",
        "metropolitan",
    )
    assert delivery.ordered_at == dt.datetime(2022, 3, 19, 11, 30, tzinfo=KOLKATA)
    assert delivery.ordered_at.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert delivery.picked_at - delivery.ordered_at == dt.timedelta(minutes=15)
    assert delivery.fixes == ()


def test_nan_text_in_optional_columns_becomes_missing() -> None:
    delivery = normalise(weather="NaN", traffic="NaN ", courier_rating="").delivery
    assert (delivery.weather, delivery.traffic, delivery.courier_rating) == (None, None, None)


def test_pickup_before_order_clock_time_crosses_midnight() -> None:
    delivery = normalise(order_time="23:50:00", pickup_time="00:05:00").delivery
    assert delivery.picked_at == dt.datetime(2022, 3, 20, 0, 5, tzinfo=KOLKATA)
    assert "pickup_after_midnight" in delivery.fixes


def test_lone_negative_latitude_is_a_sign_typo_and_is_repaired() -> None:
    delivery = normalise(store_latitude="-22.745049").delivery
    assert delivery.pickup_latitude == pytest.approx(22.745049)
    assert delivery.drop_latitude == pytest.approx(22.765049)
    assert "coordinate_sign_typo" in delivery.fixes


def test_points_genuinely_far_apart_across_the_equator_are_not_rewritten() -> None:
    result = normalise(store_latitude="-5.0", drop_latitude="22.0")
    assert result.delivery.pickup_latitude == -5.0


def test_zero_store_is_kept_but_flagged_unusable() -> None:
    delivery = normalise(
        store_latitude="0.0", store_longitude="0.0", drop_latitude="0.03", drop_longitude="0.03"
    ).delivery
    assert delivery.has_usable_coordinates is False
    assert "zero_store_coordinates" in delivery.fixes


@pytest.mark.parametrize(
    ("changes", "column", "reason_part"),
    [
        ({"courier_rating": "6"}, "courier_rating", "outside 1.0..5.0"),
        ({"courier_age": "9"}, "courier_age", "outside 15..80"),
        ({"courier_age": "abc"}, "courier_age", "not a number"),
        ({"order_time": "NaN "}, "order_time", "missing value"),
        ({"order_time": "25:99"}, "order_time", "not a clock time"),
        ({"order_date": "19/03/2022"}, "order_date", "not a date"),
        ({"weather": "Hail"}, "weather", "unknown value 'Hail'"),
        ({"vehicle": "NaN"}, "vehicle", "missing value"),
        ({"store_latitude": "95"}, "store_latitude", "outside -90..90"),
        ({"drop_longitude": "inf"}, "drop_longitude", "not a finite number"),
        ({"delivery_minutes": "0"}, "delivery_minutes", "outside 1..300"),
        ({"order_id": " "}, "order_id", "missing value"),
        ({"order_time": "01:00:00", "pickup_time": "09:00:00"}, "pickup_time", "after the order"),
    ],
)
def test_each_kind_of_bad_value_is_rejected_naming_the_column(changes, column, reason_part) -> None:  # type: ignore[no-untyped-def]
    result = normalise(**changes)
    assert result.delivery is None
    assert reason_part in reasons(result)[column]


def test_every_problem_in_a_row_is_reported_not_only_the_first() -> None:
    result = normalise(courier_rating="6", order_time="NaN", vehicle="rocket")
    assert set(reasons(result)) == {"courier_rating", "order_time", "vehicle"}


def test_wrong_header_is_a_schema_error_naming_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("order_id,courier\n1,2\n")
    with pytest.raises(SchemaError, match=r"missing columns: courier_id.*unexpected columns: courier"):
        list(read_raw_rows(path))


def test_row_with_wrong_field_count_is_a_schema_error_with_its_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "short.csv", [raw_row(), raw_row(order_id="0x1")])
    with open(path, "a") as handle:
        handle.write("0x2,only,three\n")
    with pytest.raises(SchemaError, match="line 4 has 3 fields"):
        list(read_raw_rows(path))


@pytest.mark.parametrize(
    "content",
    [b"", b"\x1f\x8b\x08\x00garbage-that-is-not-gzip", b"\xff\xfe\x00\x00binary\x00"],
    ids=["empty", "broken-gzip", "binary"],
)
def test_unreadable_content_is_a_schema_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.csv.gz"
    path.write_bytes(content)
    with pytest.raises(SchemaError):
        list(read_raw_rows(path))


def test_gzip_is_detected_by_content_not_by_name(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "named-plain.csv", [raw_row()], compress=True)
    with gzip.open(path) as handle:
        assert handle.read(8)  # really gzip
    assert [line for line, _ in read_raw_rows(path)] == [2]


def test_real_file_every_row_accounted_for(bundled_deliveries: Path) -> None:
    frame, rejected = load_clean_frame(bundled_deliveries, time_zone=KOLKATA)
    rows_read = sum(1 for _ in read_raw_rows(bundled_deliveries))
    assert rows_read == 34682
    assert len(frame) + len(rejected) == rows_read
    assert len(rejected) == 77  # the rows without an order time (47 of them also rate the courier 6.0)
    assert all("order_time" in {e.column for e in r.errors} for r in rejected)
    assert frame["has_usable_coordinates"].eq(False).sum() == 2928
    assert (frame["pickup_latitude"] < 0).sum() == 0 and (frame["pickup_longitude"] < 0).sum() == 0
    assert (frame["picked_at"] > frame["ordered_at"]).all()


# Bytes a field may hold: the csv module's and Arrow's special characters, text, and bytes that are not UTF-8.
_FIELD_PARTS = ["a", "7", " ", ",", '"', "\r", "\n", "\x00", "\u00e9", "NaN", "\ufeff"]
_odd_field = st.one_of(
    st.lists(st.sampled_from(_FIELD_PARTS), max_size=3).map(lambda parts: "".join(parts).encode()),
    st.binary(max_size=2),
)
_plain_field = st.sampled_from(["", "a", " 7 ", "NaN", "\u00e9"]).map(str.encode)
_GOOD_LINE = [value.encode() for value in raw_row().values()]


def _changed(fields: st.SearchStrategy[bytes], count: int) -> st.SearchStrategy[bytes]:
    changes = st.lists(st.tuples(st.integers(0, len(RAW_COLUMNS) - 1), fields), max_size=count)
    return changes.map(lambda pairs: b",".join(_replace(_GOOD_LINE, pairs)))


def _replace(values: list[bytes], pairs: list[tuple[int, bytes]]) -> list[bytes]:
    values = list(values)
    for index, value in pairs:
        values[index] = value
    return values


# Mostly plain lines, so that the fast path runs for several chunks before something sends it back.
_line = st.one_of(
    _changed(_plain_field, 3),
    _changed(_plain_field, 3),
    _changed(_odd_field, 1),
    st.lists(_odd_field, max_size=len(RAW_COLUMNS) + 1).map(b",".join),
)
_header = st.sampled_from(
    [
        ",".join(RAW_COLUMNS).encode(),
        ",".join(reversed(RAW_COLUMNS)).encode(),
        b'"order_id",' + ",".join(RAW_COLUMNS[1:]).encode(),
        ",".join(RAW_COLUMNS[1:]).encode(),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    header=_header,
    lines=st.lists(_line, max_size=20),
    ends=st.lists(st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\n\n"]), min_size=21, max_size=21),
    has_final_newline=st.booleans(),
    is_gzip=st.booleans(),
    chunk_rows=st.integers(1, 5),
    block_bytes=st.integers(1, 600),
)
def test_chunks_read_any_file_as_the_csv_module_does(
    header: bytes,
    lines: list[bytes],
    ends: list[bytes],
    has_final_newline: bool,
    is_gzip: bool,
    chunk_rows: int,
    block_bytes: int,
) -> None:
    """Arrow's fast path and the csv module give the same rows, line numbers and errors, whatever the bytes."""
    content = b"".join(line + end for line, end in zip([header, *lines], ends, strict=False))
    if not has_final_newline:
        content = content.rstrip(b"\r\n")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "h.csv"
        path.write_bytes(gzip.compress(content) if is_gzip else content)
        expected = _rows_or_error(lambda: list(read_raw_rows(path)))
        chunked = _rows_or_error(
            lambda: [
                (line, chunk.raw(index))
                for chunk in read_raw_chunks(path, chunk_rows=chunk_rows, block_bytes=block_bytes)
                for index, line in enumerate(chunk.line_numbers)
            ]
        )
    assert chunked == expected


def _rows_or_error(read: Callable[[], list[tuple[int, dict[str, str]]]]) -> object:
    try:
        return read()
    except SchemaError as error:
        return str(error)


def test_a_plain_file_is_read_by_arrow_alone(tmp_path: Path) -> None:
    """The synthetic and real files are plain: the csv module is never asked for a row."""
    rows = [raw_row(order_id=f"0x{i}") for i in range(23)]
    path = tmp_path / "h.csv"
    path.write_bytes(b"".join(",".join(row).encode() + b"\n" for row in [RAW_COLUMNS, *[r.values() for r in rows]]))

    reader = plain_chunks(path, chunk_rows=5, block_bytes=100)
    chunks = []
    with pytest.raises(StopIteration) as stop:
        while True:
            chunks.append(next(reader))

    assert stop.value.value is None
    assert [len(chunk) for chunk in chunks] == [5, 5, 5, 5, 3]
    assert [(line, chunk.raw(i)) for chunk in chunks for i, line in enumerate(chunk.line_numbers)] == list(
        read_raw_rows(path)
    )
