"""`normalize_row` over a whole chunk of rows at once (plain Python: pyarrow, numpy, pandas; no Django).

Importing ten million rows one `normalize_row` call at a time takes most of an hour; the same rules over
columns take a minute. To keep one definition of a clean delivery, the columnar path here is only a fast
path: it accepts a row when every value has the plain form of the real files (ASCII text, decimal
numbers, ``YYYY-MM-DD`` dates, ``H[H]:M[M][:S[S]]`` clocks, local times that are neither skipped nor
repeated by a daylight-saving change) and every rule passes. Every other row (anything refused, and the
odd value in an unusual spelling that ``float()`` or ``strptime`` would still read) goes through
`normalize_row` itself, which then decides it and gives the reasons. So the outcome per row is exactly
`normalize_row`'s, which the tests check as a property over arbitrary rows.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.delivery.plausibility import implausible_instants
from core.delivery.schema import (
    _AREA_SPELLINGS,
    AREA_VALUES,
    COURIER_AGE_RANGE,
    COURIER_RATING_RANGE,
    MISSING_TOKENS,
    RAW_COLUMNS,
    SIGN_TYPO_MAX_GAP_DEGREES,
    TRAFFIC_VALUES,
    VEHICLE_VALUES,
    WEATHER_VALUES,
    CleanDelivery,
    RawChunk,
    RowResult,
    normalize_row,
    read_raw_chunks,
)

# The repairs `normalize_row` may apply, one boolean column each in an accepted chunk (``fix_<kind>``).
FIX_KINDS = ("pickup_after_midnight", "coordinate_sign_typo", "zero_store_coordinates")
FIX_COLUMNS = tuple(f"fix_{kind}" for kind in FIX_KINDS)
DELIVERY_COLUMNS = tuple(name for name in CleanDelivery.__dataclass_fields__ if name != "fixes")
ACCEPTED_COLUMNS = ("line_number", *DELIVERY_COLUMNS, *FIX_COLUMNS)

# What Python's str.strip() removes from ASCII text; the fast path only ever sees ASCII rows.
_ASCII_WHITESPACE = "".join(c for c in map(chr, range(128)) if c.isspace())
# Numbers as float() reads them, in the plain decimal form only; short enough that none overflows.
_NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,2})?$"
_NUMBER_MAX_LENGTH = 40
_DATE_PATTERN = r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})$"
# strptime's own patterns for %H, %M and %S, minus the leap seconds it reads and datetime then refuses.
_CLOCK_PATTERN = r"^(?P<hour>2[0-3]|[01]\d|\d):(?P<minute>[0-5]\d|\d)(?::(?P<second>[0-5]\d|\d))?$"
# Dates outside these years are left to `normalize_row`: none is a plausible order date anyway.
_FAST_YEARS = (1900, 2200)
COORDINATE_LIMITS = {"store_latitude": 90, "store_longitude": 180, "drop_latitude": 90, "drop_longitude": 180}


@dataclass(frozen=True)
class NormalizedChunk:
    """One chunk after normalisation.

    ``accepted`` has `ACCEPTED_COLUMNS`: the clean deliveries (UTC times), their line numbers and repairs,
    in file order. ``rejected`` are the refused rows with their reasons. ``present`` counts, per column of
    `RAW_COLUMNS`, the rows whose value is not missing (what the quality report's completeness sums).
    """

    rows: int
    accepted: pd.DataFrame
    rejected: list[RowResult]
    present: dict[str, int]


class _Columns:
    """The chunk's columns as stripped text, with the checks every field shares."""

    def __init__(self, chunk: RawChunk) -> None:
        self.raw = {name: chunk.columns[name] for name in RAW_COLUMNS}
        # A NUL is ASCII but no text PostgreSQL can store: such rows take the row-wise path, which rejects them.
        self.is_ascii = np.logical_and.reduce(
            [
                pc.and_(pc.string_is_ascii(column), pc.invert(pc.match_substring(column, "\x00"))).to_numpy(
                    zero_copy_only=False
                )
                for column in self.raw.values()
            ]
        )
        self.text = {name: pc.utf8_trim(column, characters=_ASCII_WHITESPACE) for name, column in self.raw.items()}
        self.lower = {name: pc.ascii_lower(column) for name, column in self.text.items()}
        missing_tokens = pa.array(sorted(MISSING_TOKENS), type=pa.string())
        self.is_missing = {
            name: pc.is_in(column, value_set=missing_tokens).to_numpy(zero_copy_only=False)
            for name, column in self.lower.items()
        }

    def present_count(self, name: str, chunk: RawChunk) -> int:
        """Non-missing values of a column, by quality.completeness_by_column's rule (exact for any text)."""
        count = int(np.count_nonzero(~self.is_missing[name] & self.is_ascii))
        others = np.flatnonzero(~self.is_ascii)
        return count + sum(chunk.columns[name][i].as_py().strip().lower() not in MISSING_TOKENS for i in others)

    def number(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The column as floats and where that reading is certain (plain decimal, finite)."""
        text = self.text[name]
        is_plain = pc.and_(
            pc.match_substring_regex(text, _NUMBER_PATTERN),
            pc.less_equal(pc.utf8_length(text), _NUMBER_MAX_LENGTH),
        )
        values = pc.cast(pc.if_else(is_plain, text, "0"), pa.float64()).to_numpy(zero_copy_only=False)
        is_read = is_plain.to_numpy(zero_copy_only=False) & np.isfinite(values)
        return np.where(is_read, values, np.nan), is_read

    def category(self, name: str, allowed: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The column's canonical values (None where missing) and where they are allowed or missing."""
        values = self.lower[name]
        if name == "area":
            for spelling, area in _AREA_SPELLINGS.items():
                values = pc.if_else(pc.equal(values, spelling), area, values)
        is_allowed = pc.is_in(values, value_set=pa.array(allowed, type=pa.string())).to_numpy(zero_copy_only=False)
        canonical = values.to_numpy(zero_copy_only=False).astype(object)
        canonical[self.is_missing[name]] = None
        return canonical, is_allowed


def _dates(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY-MM-DD`` as datetime64[s] at midnight, and where it is a real calendar date."""
    parts = pc.extract_regex(text, _DATE_PATTERN)
    is_match = parts.is_valid().to_numpy(zero_copy_only=False)
    year, month, day = (
        pc.cast(pc.if_else(is_match, parts.field(name), "1"), pa.int64()).to_numpy(zero_copy_only=False)
        for name in ("year", "month", "day")
    )
    is_in_range = (year >= _FAST_YEARS[0]) & (year <= _FAST_YEARS[1]) & (month >= 1) & (month <= 12) & (day >= 1)
    year, month = np.where(is_in_range, year, 2000), np.where(is_in_range, month, 1)
    first = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]").astype("datetime64[D]")
    midnight = first + (day - 1).astype("timedelta64[D]")
    # Day 31 of a 30-day month lands in the next month: not a date.
    is_date = is_match & is_in_range & (midnight.astype("datetime64[M]") == first.astype("datetime64[M]"))
    return midnight.astype("datetime64[s]"), is_date


def _clock_seconds(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``H[H]:M[M][:S[S]]`` as seconds after midnight, and where the text has that form."""
    parts = pc.extract_regex(text, _CLOCK_PATTERN)
    is_match = parts.is_valid().to_numpy(zero_copy_only=False)
    seconds = np.zeros(len(text), dtype=np.int64)
    for name, factor in (("hour", 3600), ("minute", 60), ("second", 1)):
        field = pc.if_else(pc.and_(is_match, pc.not_equal(parts.field(name), "")), parts.field(name), "0")
        seconds += factor * pc.cast(field, pa.int64()).to_numpy(zero_copy_only=False)
    return seconds, is_match


def _localize(naive: np.ndarray, time_zone: ZoneInfo) -> tuple[pd.Series, np.ndarray]:
    """Local wall-clock times as UTC, and where that is unambiguous (no daylight-saving gap or overlap)."""
    local = pd.Series(naive).dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="NaT")
    utc = local.dt.tz_convert("UTC")
    return utc, utc.notna().to_numpy()


def _sign_typos(store: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """Vectorised `schema._fix_sign_typos`: where a lone negative sign is flipped."""
    with np.errstate(invalid="ignore"):
        is_mixed = ((store < 0) != (drop < 0)) & (store != 0) & (drop != 0)
        return (
            is_mixed
            & (np.abs(np.abs(store) - np.abs(drop)) <= SIGN_TYPO_MAX_GAP_DEGREES)
            & (np.abs(store - drop) > SIGN_TYPO_MAX_GAP_DEGREES)
        )


def _within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values >= low) & (values <= high)


def normalize_chunk(
    chunk: RawChunk, *, time_zone: ZoneInfo, now: dt.datetime, outcome_required: bool = True
) -> NormalizedChunk:
    """`normalize_row` for every row of ``chunk``: the same deliveries, rejections and reasons, in columns."""
    count = len(chunk)
    columns = _Columns(chunk)
    is_fast = columns.is_ascii.copy()
    for name in ("order_id", "courier_id"):
        is_fast &= ~columns.is_missing[name]

    age, is_age = columns.number("courier_age")
    is_fast &= is_age & _within(age, *COURIER_AGE_RANGE)
    rating, is_rating = columns.number("courier_rating")
    is_fast &= columns.is_missing["courier_rating"] | (is_rating & _within(rating, *COURIER_RATING_RANGE))
    coordinates = {}
    for name, limit in COORDINATE_LIMITS.items():
        coordinates[name], is_read = columns.number(name)
        is_fast &= is_read & _within(coordinates[name], -limit, limit)
    minutes, is_minutes = columns.number("delivery_minutes")
    is_fast &= is_minutes | (columns.is_missing["delivery_minutes"] & (not outcome_required))

    categories = {}
    for name, allowed, required in (
        ("weather", WEATHER_VALUES, False),
        ("traffic", TRAFFIC_VALUES, False),
        ("vehicle", VEHICLE_VALUES, True),
        ("area", AREA_VALUES, False),
    ):
        categories[name], is_allowed = columns.category(name, allowed)
        is_fast &= is_allowed | (columns.is_missing[name] & (not required))

    midnight, is_date = _dates(columns.text["order_date"])
    order_seconds, is_order_clock = _clock_seconds(columns.text["order_time"])
    pickup_seconds, is_pickup_clock = _clock_seconds(columns.text["pickup_time"])
    has_pickup = ~columns.is_missing["pickup_time"] if not outcome_required else np.ones(count, dtype=bool)
    is_fast &= is_date & is_order_clock & (is_pickup_clock | ~has_pickup)
    ordered_naive = midnight + order_seconds.astype("timedelta64[s]")
    picked_naive = midnight + pickup_seconds.astype("timedelta64[s]")
    # The order crossed midnight: the pickup clock time belongs to the next day.
    is_after_midnight = has_pickup & (picked_naive < ordered_naive)
    picked_naive = np.where(is_after_midnight, picked_naive + np.timedelta64(1, "D"), picked_naive)
    ordered_at, is_ordered_clear = _localize(ordered_naive, time_zone)
    picked_at, is_picked_clear = _localize(picked_naive, time_zone)
    # normalize_row compares an order and its pickup on the wall clock; in UTC that is the same only when
    # both have one offset, so a wait across a daylight-saving change is left to it.
    ordered_offset = ordered_at.dt.tz_localize(None).to_numpy() - ordered_naive
    picked_offset = picked_at.dt.tz_localize(None).to_numpy() - picked_naive
    is_fast &= is_ordered_clear & (is_picked_clear & (ordered_offset == picked_offset) | ~has_pickup)
    picked_at = picked_at.where(has_pickup)
    flags = implausible_instants(
        ordered_at,
        picked_at,
        pd.Series(minutes),
        now=now,
        is_completed=outcome_required,
    )
    is_fast &= ~flags.any(axis=1).to_numpy()

    lat_typo = _sign_typos(coordinates["store_latitude"], coordinates["drop_latitude"])
    lon_typo = _sign_typos(coordinates["store_longitude"], coordinates["drop_longitude"])
    pickup_latitude = np.where(lat_typo, np.abs(coordinates["store_latitude"]), coordinates["store_latitude"])
    pickup_longitude = np.where(lon_typo, np.abs(coordinates["store_longitude"]), coordinates["store_longitude"])
    drop_latitude = np.where(lat_typo, np.abs(coordinates["drop_latitude"]), coordinates["drop_latitude"])
    drop_longitude = np.where(lon_typo, np.abs(coordinates["drop_longitude"]), coordinates["drop_longitude"])
    is_zero_store = (pickup_latitude == 0) & (pickup_longitude == 0)

    fast = np.flatnonzero(is_fast)
    accepted = pd.DataFrame(
        {
            "line_number": np.asarray(chunk.line_numbers, dtype=np.int64)[fast],
            "external_order_id": columns.text["order_id"].take(fast).to_numpy(zero_copy_only=False).astype(object),
            "courier_id": columns.text["courier_id"].take(fast).to_numpy(zero_copy_only=False).astype(object),
            "courier_age": np.trunc(age[fast]).astype(np.int64),
            "courier_rating": rating[fast],
            "pickup_latitude": pickup_latitude[fast],
            "pickup_longitude": pickup_longitude[fast],
            "drop_latitude": drop_latitude[fast],
            "drop_longitude": drop_longitude[fast],
            "has_usable_coordinates": ~is_zero_store[fast],
            "ordered_at": ordered_at.iloc[fast].reset_index(drop=True),
            "picked_at": picked_at.iloc[fast].reset_index(drop=True),
            **{name: values[fast] for name, values in categories.items()},
            "delivery_minutes": minutes[fast],
            "fix_pickup_after_midnight": is_after_midnight[fast],
            "fix_coordinate_sign_typo": (lat_typo | lon_typo)[fast],
            "fix_zero_store_coordinates": is_zero_store[fast],
        },
        columns=list(ACCEPTED_COLUMNS),
    )

    rejected: list[RowResult] = []
    slow_accepted: list[dict[str, object]] = []
    for index in np.flatnonzero(~is_fast):
        result = normalize_row(
            chunk.raw(int(index)),
            line_number=chunk.line_numbers[index],
            time_zone=time_zone,
            outcome_required=outcome_required,
            now=now,
        )
        if result.delivery is None:
            rejected.append(result)
        else:
            slow_accepted.append(_accepted_row(result))
    if slow_accepted:
        slow = pd.DataFrame(slow_accepted, columns=list(ACCEPTED_COLUMNS))
        for name in ("ordered_at", "picked_at"):
            # A column holding only NaT comes out tz-naive, which astype cannot turn into the fast rows' UTC.
            slow[name] = pd.to_datetime(slow[name], utc=True)
        slow = slow.astype(accepted.dtypes.to_dict())
        accepted = pd.concat([accepted, slow], ignore_index=True).sort_values("line_number", ignore_index=True)
    present = {name: columns.present_count(name, chunk) for name in RAW_COLUMNS}
    return NormalizedChunk(rows=count, accepted=accepted, rejected=rejected, present=present)


def normalized_chunks(
    path: Path, *, chunk_rows: int, time_zone: ZoneInfo, now: dt.datetime, outcome_required: bool = True
) -> Iterator[NormalizedChunk]:
    """`normalize_chunk` of every chunk of `read_raw_chunks`, read and normalised one chunk ahead in a thread.

    The caller's work on a chunk (loading it into the database, which mostly waits on the server) then
    overlaps the reading and normalising of the next, so two cores are busy; at most two chunks are held
    besides the caller's. Errors of the reader (`SchemaError`) are raised here, at the same chunk.
    """
    ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    is_stopped = threading.Event()

    def produce() -> None:
        try:
            for chunk in read_raw_chunks(path, chunk_rows=chunk_rows):
                normalized = normalize_chunk(chunk, time_zone=time_zone, now=now, outcome_required=outcome_required)
                item: tuple[str, object] = ("chunk", normalized)
                while not _put(ready, item):
                    if is_stopped.is_set():
                        return
            item = ("done", None)
        except BaseException as error:
            item = ("error", error)
        while not _put(ready, item) and not is_stopped.is_set():
            pass

    producer = threading.Thread(target=produce, name="import-normalise", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "done":
                return
            if isinstance(value, BaseException):
                raise value
            assert isinstance(value, NormalizedChunk)
            yield value
    finally:
        is_stopped.set()
        producer.join()


def _put(ready: queue.Queue[tuple[str, object]], item: tuple[str, object]) -> bool:
    try:
        ready.put(item, timeout=0.1)
    except queue.Full:
        return False
    return True


def _accepted_row(result: RowResult) -> dict[str, object]:
    delivery = result.delivery
    assert delivery is not None
    row: dict[str, object] = {"line_number": result.line_number, **delivery.as_dict()}
    fixes = row.pop("fixes")
    for kind in FIX_KINDS:
        row[f"fix_{kind}"] = kind in fixes  # type: ignore[operator]
    row["courier_rating"] = np.nan if delivery.courier_rating is None else delivery.courier_rating
    row["delivery_minutes"] = np.nan if delivery.delivery_minutes is None else delivery.delivery_minutes
    row["ordered_at"] = pd.Timestamp(delivery.ordered_at).tz_convert("UTC").as_unit("s")
    row["picked_at"] = pd.NaT if delivery.picked_at is None else pd.Timestamp(delivery.picked_at).tz_convert("UTC")
    return row
