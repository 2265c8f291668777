"""Raw rows in the bundled file's schema, for tests that build their own files (no Django)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

from core.delivery.schema import RAW_COLUMNS

GOOD_ROW = {
    "order_id": "0x4607 ",
    "courier_id": "INDORES13DEL02 ",
    "courier_age": "37",
    "courier_rating": "4.9",
    "store_latitude": "22.745049",
    "store_longitude": "75.892471",
    "drop_latitude": "22.765049",
    "drop_longitude": "75.912471",
    "order_date": "2022-03-19",
    "order_time": "11:30:00",
    "pickup_time": "11:45:00",
    "weather": "Sunny",
    "traffic": "High ",
    "vehicle": "motorcycle ",
    "area": "Urban ",
    "delivery_minutes": "24",
}


def raw_row(**changes: str) -> dict[str, str]:
    return {**GOOD_ROW, **changes}


def write_rows(path: Path, rows: list[dict[str, str]], *, compress: bool = False) -> Path:
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RAW_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
