"""The delivery-history file schema and its row normaliser (plain Python, no Django).

One definition of "what a clean delivery looks like" serves the importer, the synthetic generator,
`evaluate_model_version` and the benchmarks, so a row is cleaned the same way wherever it enters.

The bundled public file is messy in documented ways (see ../shared/data/eta/README.md): trailing spaces,
the text ``NaN`` for missing values, negative coordinates that are sign typos, restaurants at (0, 0),
pickups after midnight and impossible courier ratings. `normalize_row` turns one raw row into a
`CleanDelivery` or a list of `FieldError` naming the column and the reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
import math
import zlib
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.delivery.plausibility import instant_problems

RAW_COLUMNS: tuple[str, ...] = (
    "order_id",
    "courier_id",
    "courier_age",
    "courier_rating",
    "store_latitude",
    "store_longitude",
    "drop_latitude",
    "drop_longitude",
    "order_date",
    "order_time",
    "pickup_time",
    "weather",
    "traffic",
    "vehicle",
    "area",
    "delivery_minutes",
)

# Canonical category values; the raw spellings (any case, trailing spaces, the sic "Metropolitian")
# map onto them. Kept here rather than in a Django choices module because the ML core needs them too.
WEATHER_VALUES = ("sunny", "cloudy", "fog", "stormy", "sandstorms", "windy")
TRAFFIC_VALUES = ("low", "medium", "high", "jam")
VEHICLE_VALUES = ("motorcycle", "scooter", "van", "bicycle")
AREA_VALUES = ("metropolitan", "urban", "semi_urban", "other")
_AREA_SPELLINGS = {"metropolitian": "metropolitan", "metropolitan": "metropolitan", "semi-urban": "semi_urban"}

MISSING_TOKENS = frozenset({"", "nan", "null", "none", "na", "n/a"})

# Domain bounds: a value outside them is not a delivery we can learn from or serve, so the row is
# rejected. Ranges are wider than the bundled data so other tenants' legitimate data passes. The bounds of
# the instants (order, pickup, delivery duration) are `core.delivery.plausibility`'s.
COURIER_AGE_RANGE = (15, 80)
COURIER_RATING_RANGE = (1.0, 5.0)
# Store and drop lie within this many degrees of each other for a local delivery: used to tell a sign
# typo (-22.7 beside 22.8) from a genuine crossing of the equator or the meridian.
SIGN_TYPO_MAX_GAP_DEGREES = 1.0


class SchemaError(ValueError):
    """The file as a whole cannot be read as a delivery history (bad header, not CSV, bad gzip)."""


@dataclass(frozen=True)
class FieldError:
    """Why one column of one row was not accepted."""

    column: str
    reason: str


@dataclass(frozen=True)
class CleanDelivery:
    """One delivery after normalisation, in the product's vocabulary (field names match the model)."""

    external_order_id: str
    courier_id: str
    courier_age: int
    courier_rating: float | None
    pickup_latitude: float
    pickup_longitude: float
    drop_latitude: float
    drop_longitude: float
    has_usable_coordinates: bool
    ordered_at: dt.datetime
    # None only for orders read for prediction (``outcome_required=False``): not yet picked up.
    picked_at: dt.datetime | None
    weather: str | None
    traffic: str | None
    vehicle: str
    area: str | None
    # None only for orders read for prediction: the outcome is what is being predicted.
    delivery_minutes: float | None
    fixes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class RowResult:
    """The outcome of normalising one raw row: a clean delivery or the reasons it was refused."""

    line_number: int
    raw: dict[str, str]
    delivery: CleanDelivery | None
    errors: list[FieldError]


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return None if stripped.lower() in MISSING_TOKENS else stripped


def _number(raw: dict[str, str], column: str, errors: list[FieldError], *, required: bool) -> float | None:
    text = _text(raw.get(column))
    if text is None:
        if required:
            errors.append(FieldError(column, "missing value"))
        return None
    try:
        number = float(text)
    except ValueError:
        errors.append(FieldError(column, f"not a number: {text!r}"))
        return None
    if not math.isfinite(number):
        errors.append(FieldError(column, f"not a finite number: {text!r}"))
        return None
    return number


def _category(
    raw: dict[str, str], column: str, allowed: tuple[str, ...], errors: list[FieldError], *, required: bool
) -> str | None:
    text = _text(raw.get(column))
    if text is None:
        if required:
            errors.append(FieldError(column, "missing value"))
        return None
    value = text.lower()
    if column == "area":
        value = _AREA_SPELLINGS.get(value, value)
    if value not in allowed:
        errors.append(FieldError(column, f"unknown value {text!r}; expected one of {', '.join(allowed)}"))
        return None
    return value


def _clock(raw: dict[str, str], column: str, errors: list[FieldError]) -> dt.time | None:
    text = _text(raw.get(column))
    if text is None:
        errors.append(FieldError(column, "missing value"))
        return None
    for pattern in ("%H:%M:%S", "%H:%M"):
        try:
            return dt.datetime.strptime(text, pattern).time()
        except ValueError:
            continue
    errors.append(FieldError(column, f"not a clock time HH:MM[:SS]: {text!r}"))
    return None


def _fix_sign_typos(store: float, drop: float) -> tuple[float, float, bool]:
    """Flip a lone negative sign when the two points would otherwise sit on opposite hemispheres."""
    if (store < 0) == (drop < 0) or store == 0 or drop == 0:
        return store, drop, False
    if abs(abs(store) - abs(drop)) <= SIGN_TYPO_MAX_GAP_DEGREES and abs(store - drop) > SIGN_TYPO_MAX_GAP_DEGREES:
        return abs(store), abs(drop), True
    return store, drop, False


@dataclass(frozen=True)
class RepairedCoordinates:
    """Store and drop coordinates after sign-typo repair, and whether the store is a real place."""

    pickup_latitude: float
    pickup_longitude: float
    drop_latitude: float
    drop_longitude: float
    has_usable_coordinates: bool
    fixes: tuple[str, ...]


def repair_coordinates(
    store_latitude: float, store_longitude: float, drop_latitude: float, drop_longitude: float
) -> RepairedCoordinates:
    """The importer's coordinate repairs; the prediction API applies the same so features agree."""
    fixes: list[str] = []
    store_lat, drop_lat, lat_fixed = _fix_sign_typos(store_latitude, drop_latitude)
    store_lon, drop_lon, lon_fixed = _fix_sign_typos(store_longitude, drop_longitude)
    if lat_fixed or lon_fixed:
        fixes.append("coordinate_sign_typo")
    # A restaurant at exactly (0, 0) is a placeholder: the offset to the drop still measures a distance,
    # but neither point is a real place, so location features must not use them.
    usable = not (store_lat == 0 and store_lon == 0)
    if not usable:
        fixes.append("zero_store_coordinates")
    return RepairedCoordinates(store_lat, store_lon, drop_lat, drop_lon, usable, tuple(fixes))


# Where each rule of `core.delivery.plausibility` is reported in the file's columns.
_INSTANT_COLUMNS = {"ordered_at": "order_date", "picked_at": "pickup_time", "delivery_minutes": "delivery_minutes"}


def normalize_row(
    raw: dict[str, str],
    *,
    line_number: int,
    time_zone: ZoneInfo,
    outcome_required: bool = True,
    now: dt.datetime | None = None,
) -> RowResult:
    """Normalise one raw row; every problem found is reported, not only the first.

    With ``outcome_required=False`` (orders to predict) the delivery time and pickup time may be missing.
    The instants must be plausible at ``now`` (default: the current time), by `core.delivery.plausibility`'s
    rules for a completed delivery, or for an order to predict without ``outcome_required``.
    """
    errors: list[FieldError] = []
    fixes: list[str] = []
    # PostgreSQL text cannot hold NUL: a row carrying one could be neither stored nor reported as read.
    errors.extend(
        FieldError(str(column), "contains a NUL character")
        for column, value in raw.items()
        if isinstance(value, str) and "\x00" in value
    )

    order_id = _text(raw.get("order_id"))
    if order_id is None:
        errors.append(FieldError("order_id", "missing value"))
    courier_id = _text(raw.get("courier_id"))
    if courier_id is None:
        errors.append(FieldError("courier_id", "missing value"))

    age = _number(raw, "courier_age", errors, required=True)
    if age is not None and not (COURIER_AGE_RANGE[0] <= age <= COURIER_AGE_RANGE[1]):
        errors.append(FieldError("courier_age", f"{age:g} outside {COURIER_AGE_RANGE[0]}..{COURIER_AGE_RANGE[1]}"))
    rating = _number(raw, "courier_rating", errors, required=False)
    if rating is not None and not (COURIER_RATING_RANGE[0] <= rating <= COURIER_RATING_RANGE[1]):
        errors.append(
            FieldError("courier_rating", f"{rating:g} outside {COURIER_RATING_RANGE[0]}..{COURIER_RATING_RANGE[1]}")
        )

    coordinates = {
        column: _number(raw, column, errors, required=True)
        for column in ("store_latitude", "store_longitude", "drop_latitude", "drop_longitude")
    }
    for column, limit in (
        ("store_latitude", 90),
        ("drop_latitude", 90),
        ("store_longitude", 180),
        ("drop_longitude", 180),
    ):
        value = coordinates[column]
        if value is not None and abs(value) > limit:
            errors.append(FieldError(column, f"{value:g} outside -{limit}..{limit}"))

    order_date_text = _text(raw.get("order_date"))
    order_date: dt.date | None = None
    if order_date_text is None:
        errors.append(FieldError("order_date", "missing value"))
    else:
        try:
            order_date = dt.date.fromisoformat(order_date_text)
        except ValueError:
            errors.append(FieldError("order_date", f"not a date YYYY-MM-DD: {order_date_text!r}"))
    order_time = _clock(raw, "order_time", errors)
    pickup_time = _clock(raw, "pickup_time", errors) if outcome_required or _text(raw.get("pickup_time")) else None

    weather = _category(raw, "weather", WEATHER_VALUES, errors, required=False)
    traffic = _category(raw, "traffic", TRAFFIC_VALUES, errors, required=False)
    vehicle = _category(raw, "vehicle", VEHICLE_VALUES, errors, required=True)
    area = _category(raw, "area", AREA_VALUES, errors, required=False)

    minutes = _number(raw, "delivery_minutes", errors, required=outcome_required)

    ordered_at = picked_at = None
    if order_date is not None and order_time is not None:
        ordered_at = dt.datetime.combine(order_date, order_time, tzinfo=time_zone)
    # The last day of the calendar has no next day; its order is refused as implausible below anyway.
    if ordered_at is not None and pickup_time is not None and ordered_at.date() < dt.date.max:
        picked_at = dt.datetime.combine(ordered_at.date(), pickup_time, tzinfo=time_zone)
        if picked_at < ordered_at:
            # The order crossed midnight: the pickup clock time belongs to the next day.
            picked_at += dt.timedelta(days=1)
            fixes.append("pickup_after_midnight")
    errors.extend(
        FieldError(_INSTANT_COLUMNS[problem.field], problem.reason)
        for problem in instant_problems(
            ordered_at=ordered_at,
            picked_at=picked_at,
            delivery_minutes=minutes,
            now=now or dt.datetime.now(dt.UTC),
            is_completed=outcome_required,
        )
    )

    if errors:
        return RowResult(line_number, raw, None, errors)

    assert order_id and courier_id and age is not None and vehicle and ordered_at is not None
    repaired = repair_coordinates(
        coordinates["store_latitude"],  # type: ignore[arg-type]
        coordinates["store_longitude"],  # type: ignore[arg-type]
        coordinates["drop_latitude"],  # type: ignore[arg-type]
        coordinates["drop_longitude"],  # type: ignore[arg-type]
    )
    fixes.extend(repaired.fixes)

    delivery = CleanDelivery(
        external_order_id=order_id,
        courier_id=courier_id,
        courier_age=int(age),
        courier_rating=rating,
        pickup_latitude=repaired.pickup_latitude,
        pickup_longitude=repaired.pickup_longitude,
        drop_latitude=repaired.drop_latitude,
        drop_longitude=repaired.drop_longitude,
        has_usable_coordinates=repaired.has_usable_coordinates,
        ordered_at=ordered_at,
        picked_at=picked_at,
        weather=weather,
        traffic=traffic,
        vehicle=vehicle,
        area=area,
        delivery_minutes=minutes,
        fixes=tuple(fixes),
    )
    return RowResult(line_number, raw, delivery, [])


def open_text(path: Path) -> io.TextIOBase:
    """Open a CSV or gzip-compressed CSV as text, telling the two apart by content, not by name."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


@dataclass(frozen=True)
class RawChunk:
    """Consecutive rows of a delivery-history file as read: one Arrow string array of raw values per column.

    ``header`` is the file's column order (every name in `RAW_COLUMNS`, in any order); ``line_numbers``
    holds each row's line in the file (line 1 is the header; blank lines are skipped, not numbered anew).
    Columns given as sequences of strings are converted to Arrow arrays.
    """

    header: tuple[str, ...]
    line_numbers: list[int]
    columns: dict[str, pa.Array]

    def __post_init__(self) -> None:
        for name, values in self.columns.items():
            if not isinstance(values, pa.Array):
                self.columns[name] = pa.array(values, type=pa.string())

    def __len__(self) -> int:
        return len(self.line_numbers)

    def raw(self, index: int) -> dict[str, str]:
        """Row ``index`` of the chunk as `read_raw_rows` yields it (the file's column order)."""
        return {name: self.columns[name][index].as_py() for name in self.header}


def _check_header(path: Path, header: list[str]) -> None:
    missing = [name for name in RAW_COLUMNS if name not in header]
    unexpected = [name for name in header if name not in RAW_COLUMNS]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected columns: {', '.join(unexpected)}")
        raise SchemaError(f"{path}: wrong header ({'; '.join(parts)})")


def _records(path: Path) -> Iterator[tuple[list[str], int, list[str]]]:
    """Yield (header, line number, values) per data row; every way a file can be unreadable is a SchemaError."""
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            try:
                header = [name.strip() for name in next(reader)]
            except StopIteration:
                raise SchemaError(f"{path}: empty file, expected a header row") from None
            _check_header(path, header)
            for values in reader:
                if not values:
                    continue
                if len(values) != len(header):
                    raise SchemaError(
                        f"{path}: line {reader.line_num} has {len(values)} fields, the header has {len(header)}"
                    )
                yield header, reader.line_num, values
    except (UnicodeDecodeError, gzip.BadGzipFile, zlib.error, EOFError, csv.Error) as exc:
        raise SchemaError(f"{path}: unreadable content ({exc})") from exc


def read_raw_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, raw row) from a delivery-history file; line 1 is the header.

    Raises `SchemaError` for a missing or unexpected header, undecodable bytes, broken gzip, or a row
    with the wrong number of fields, so that callers can refuse the whole file before writing anything.
    """
    for header, line_number, values in _records(path):
        yield line_number, dict(zip(header, values, strict=True))


# Decompressed bytes parsed at a time by the fast path; with the chunk in hand, memory stays bounded.
PLAIN_BLOCK_BYTES = 4 << 20


def read_raw_chunks(path: Path, *, chunk_rows: int, block_bytes: int = PLAIN_BLOCK_BYTES) -> Iterator[RawChunk]:
    """`read_raw_rows` in chunks of at most ``chunk_rows`` rows, as columns: memory bounded by the chunk.

    Raises `SchemaError` as `read_raw_rows` does, once the chunk holding the damage is reached: a caller
    that must write nothing for a broken file writes inside a transaction it can roll back.

    Plain text (see `_is_plain`) is parsed by Arrow's multi-threaded CSV reader, ``block_bytes`` of the
    decompressed file at a time. From the first block that is not plain to the end, the rows come from the
    csv module, which reads the file again from its start and skips the rows already yielded, so its line
    numbers, values and errors are its own.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    rows_done = yield from _plain_chunks(path, chunk_rows=chunk_rows, block_bytes=block_bytes)
    if rows_done is None:
        return
    header: list[str] = []
    line_numbers: list[int] = []
    rows: list[list[str]] = []
    for header, line_number, values in itertools.islice(_records(path), rows_done, None):
        line_numbers.append(line_number)
        rows.append(values)
        if len(rows) == chunk_rows:
            yield _chunk(header, line_numbers, rows)
            line_numbers, rows = [], []
    if rows:
        yield _chunk(header, line_numbers, rows)


def _chunk(header: list[str], line_numbers: list[int], rows: list[list[str]]) -> RawChunk:
    return RawChunk(tuple(header), line_numbers, dict(zip(header, zip(*rows, strict=True), strict=True)))


def _is_plain(block: bytes) -> bool:
    """Whether the csv module and Arrow split ``block`` (whole lines) into the same rows and values.

    Without quotes, NUL, bare carriage returns or blank lines, a line is one row whose fields are the text
    between commas, for both; each line's number is then the previous one's plus one.
    """
    return (
        b'"' not in block
        and b"\x00" not in block
        and block.count(b"\r") == block.count(b"\r\n")
        and b"\n\n" not in block
        and b"\n\r\n" not in block
        and not block.startswith((b"\n", b"\r\n"))
    )


def _plain_chunks(path: Path, *, chunk_rows: int, block_bytes: int) -> Generator[RawChunk, None, int | None]:
    """Chunks of the file while it is plain; None once the file is done, else how many rows were yielded.

    Stops (and the csv module takes over) at a header other than the expected columns once each, at the
    first block that is not plain, not UTF-8 or whose lines have the wrong number of fields, and at any
    error reading the file: the csv module then reaches the same place and says what is wrong.
    """
    yielded = 0
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if is_gzip else open(path, "rb") as handle:
            header_line = handle.readline()
            if not header_line.endswith(b"\n") or not header_line.isascii() or not _is_plain(header_line):
                return yielded
            header = [name.strip() for name in header_line.decode("ascii").rstrip("\r\n").split(",")]
            if len(header) != len(RAW_COLUMNS) or set(header) != set(RAW_COLUMNS):
                return yielded
            options = {
                "read_options": pa_csv.ReadOptions(column_names=header, block_size=1 << 20),
                "parse_options": pa_csv.ParseOptions(quote_char=False, newlines_in_values=False),
                "convert_options": pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
                ),
            }
            pending: list[pa.Table] = []
            pending_rows = 0
            tail = b""
            while True:
                data = handle.read(block_bytes)
                block = tail + data
                cut = block.rfind(b"\n") + 1 if data else len(block)
                block, tail = block[:cut], block[cut:]
                if block:
                    if not _is_plain(block):
                        return yielded
                    pending.append(pa_csv.read_csv(pa.BufferReader(block), **options))
                    pending_rows += pending[-1].num_rows
                while pending_rows >= chunk_rows or (not data and pending_rows):
                    rows = pa.concat_tables(pending)
                    chunk, rest = rows.slice(0, chunk_rows), rows.slice(chunk_rows)
                    first_line = yielded + 2
                    yield RawChunk(
                        tuple(header),
                        list(range(first_line, first_line + chunk.num_rows)),
                        {name: chunk.column(name).combine_chunks() for name in header},
                    )
                    yielded += chunk.num_rows
                    pending, pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
                if not data:
                    return None
    except (OSError, EOFError, zlib.error, pa.ArrowInvalid):
        return yielded


def load_clean_frame(
    path: Path, *, time_zone: ZoneInfo, outcome_required: bool = True
) -> tuple[pd.DataFrame, list[RowResult]]:
    """Read and normalise a whole file into a DataFrame of clean deliveries plus the refused rows.

    Duplicated order ids keep their first occurrence, as the importer does. Used where deliveries are
    needed without the database (benchmarks, evaluation of a file, batch prediction with
    ``outcome_required=False``).
    """
    accepted: list[dict[str, object]] = []
    rejected: list[RowResult] = []
    seen: set[str] = set()
    for line_number, raw in read_raw_rows(path):
        result = normalize_row(raw, line_number=line_number, time_zone=time_zone, outcome_required=outcome_required)
        if result.delivery is None:
            rejected.append(result)
            continue
        if result.delivery.external_order_id in seen:
            continue
        seen.add(result.delivery.external_order_id)
        accepted.append(result.delivery.as_dict())
    frame = pd.DataFrame(accepted, columns=[f.name for f in CleanDelivery.__dataclass_fields__.values()])
    # A column of orders none of which is picked up yet holds only None: give it the datetime dtype anyway.
    frame["picked_at"] = pd.to_datetime(frame["picked_at"], utc=True)
    return frame, rejected
