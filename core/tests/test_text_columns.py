"""JSON text built as columns reads back as exactly what json.dumps of the values would give."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from core.text_columns import json_booleans, json_numbers, json_objects, json_safe, json_strings, uuid4_texts

floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.one_of(st.none(), st.text())


@given(st.lists(floats, max_size=50))
def test_numbers_read_back_as_the_very_same_floats(values: list[float]) -> None:
    column = json_numbers(np.array(values, dtype=np.float64))

    assert [json.loads(text) for text in column.to_pylist()] == json_safe(values)


@given(st.lists(texts, max_size=50))
def test_strings_read_back_as_the_same_strings(values: list[str | None]) -> None:
    column = json_strings(pd.Series(values, dtype=object))

    assert [json.loads(text) for text in column.to_pylist()] == values


@given(st.lists(st.tuples(floats, texts, st.booleans()), min_size=1, max_size=30))
def test_objects_equal_json_of_their_fields(rows: list[tuple[float, str | None, bool]]) -> None:
    numbers, strings, flags = (list(column) for column in zip(*rows, strict=True))
    column = json_objects(
        {
            "eta": json_numbers(np.array(numbers)),
            "name": json_strings(pd.Series(strings, dtype=object)),
            "is_ood": json_booleans(np.array(flags)),
            "fixed": json.dumps({"version": 1}),
        }
    )

    expected = [
        json_safe({"eta": number, "name": text, "is_ood": flag, "fixed": {"version": 1}}) for number, text, flag in rows
    ]
    assert [json.loads(text) for text in column.to_pylist()] == expected


def test_uuid4_texts_are_distinct_version_4_uuids_in_canonical_form() -> None:
    texts = uuid4_texts(2000).to_pylist()

    parsed = [uuid.UUID(text) for text in texts]
    assert len(set(parsed)) == 2000
    assert all(value.version == 4 and value.variant == uuid.RFC_4122 for value in parsed)
    assert all(str(value) == text for value, text in zip(parsed, texts, strict=True))
    assert uuid4_texts(0).to_pylist() == []
