"""JSON for the audit: `json_safe` for one value, and text for many rows at once as Arrow string columns.

For bulk writes (COPY of a file's audit rows): every function returns one text per row, computed in Arrow
and numpy kernels rather than one Python object per row. Floats are written in their shortest round-trip
form, so ``json.loads`` of the text gives back the very same float; replay compares outputs exactly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Characters a JSON string cannot hold as they are: such values are escaped by `json.dumps` instead.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'

JsonColumn: TypeAlias = pa.Array | str
"""One JSON text per row, or a ``str``: the same JSON text on every row."""


def json_safe(value: object) -> object:
    """``value`` with NaN and infinities as None, so it is valid JSON (and jsonb) and replays exactly."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def json_numbers(values: np.ndarray | pd.Series) -> pa.Array:
    """Each float as JSON in its shortest round-trip form; NaN and infinities as null (as `json_safe` does)."""
    array = np.asarray(values, dtype=np.float64)
    text = pc.cast(pa.array(array), pa.string())
    return pc.if_else(pa.array(np.isfinite(array)), text, "null")


def json_booleans(values: np.ndarray | pd.Series) -> pa.Array:
    """Each truth value as JSON ``true`` or ``false``."""
    return pc.if_else(pa.array(np.asarray(values, dtype=bool)), "true", "false")


def json_strings(values: pd.Series | pa.Array) -> pa.Array:
    """Each value as a JSON string; None and NaN as null."""
    if isinstance(values, pa.Array):
        strings = values.cast(pa.string())
    else:
        strings = pa.array(values, type=pa.string(), from_pandas=True)
    if not pc.any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)).as_py():
        # The common case (ids, levels): quoting is all a value needs, done in one kernel.
        quoted = pc.binary_join_element_wise('"', strings, '"', "")
    else:
        # Escaping is json.dumps' job: once per distinct value.
        encoded = pc.dictionary_encode(strings)
        texts = pa.array([json.dumps(value) for value in encoded.dictionary.to_pylist()], type=pa.string())
        quoted = texts.take(encoded.indices)
    return pc.fill_null(quoted, "null")


def json_objects(fields: Mapping[str, JsonColumn]) -> pa.Array:
    """One JSON object per row with ``fields`` in their order, from their JSON texts (one at least a column)."""
    parts: list[pa.Array | str] = []
    for position, (name, column) in enumerate(fields.items()):
        parts.append(("{" if position == 0 else ",") + json.dumps(name) + ":")
        parts.append(column)
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def uuid4_texts(rows: int) -> pa.Array:
    """``rows`` random (version 4) UUIDs in their canonical text form, as `uuid.uuid4` makes them."""
    raw = np.frombuffer(os.urandom(16 * rows), dtype=np.uint8).reshape(rows, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(rows, 32)
    text = np.full((rows, 36), ord("-"), dtype=np.uint8)
    for start, end, offset in ((0, 8, 0), (8, 12, 1), (12, 16, 2), (16, 20, 3), (20, 32, 4)):
        text[:, start + offset : end + offset] = hexed[:, start:end]
    return pa.array(text.view("S36").ravel()).cast(pa.string())
