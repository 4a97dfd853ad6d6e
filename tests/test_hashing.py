"""Row hashes: equal rows hash equal wherever they sit; different rows (practically) never."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.core import hashing

text = st.one_of(st.none(), st.text(alphabet=st.characters(
    blacklist_characters="\x1f\x00", blacklist_categories=("Cs",)), max_size=12))  # as decoded


def frame(rows: list[tuple[str | None, str | None, str | None]]) -> pd.DataFrame:
    a, b, d = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame({
        "a": pd.Series(a, dtype="str"), "b": pd.Series(b, dtype="str"),
        "d": pd.to_datetime(pd.Series(d, dtype="object"), format="%Y-%m-%d").astype(
            "datetime64[s]"),
    })


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(text, text, st.sampled_from([None, "2020-01-01", "1999-12-31"])),
                min_size=1, max_size=40))
def test_equal_rows_hash_equal_and_different_rows_differ(rows: list) -> None:
    hashes = hashing.rows(frame(rows))
    for i, row in enumerate(rows):
        for j, other in enumerate(rows):
            assert (hashes[i] == hashes[j]) == (row == other), (row, other)


def test_missing_empty_and_field_boundaries_are_told_apart() -> None:
    f = frame([(None, "x", None), ("", "x", None), ("x", None, None), ("x", "", None),
               ("ab", "c", None), ("a", "bc", None), ("x", "x", "2020-01-01")])
    assert len(set(hashing.rows(f).tolist())) == len(f)


def test_the_hash_does_not_depend_on_position_chunks_or_long_values() -> None:
    long = "ä" * (hashing._CHUNK // 2 + 7)  # two bytes each: longer than one chunk
    values = ["abc", long, *[f"v{i}" for i in range(300_000)], "abc", long]
    h = hashing.strings(pa.array(values, pa.large_string()))
    assert h[0] == h[-2] and h[1] == h[-1]
    alone = hashing.strings(pa.array(["abc", long], pa.large_string()))
    assert alone.tolist() == [h[0], h[1]]
    sliced = pa.array(values, pa.large_string()).slice(len(values) - 2)
    assert hashing.strings(sliced).tolist() == [h[0], h[1]]


def test_numbers_and_dates_hash_by_value() -> None:
    f = pd.DataFrame({"x": [1.5, np.nan, -0.0, 0.0, 1.5, np.nan]})
    h = hashing.rows(f)
    assert h[0] == h[4] and h[1] == h[5] and h[2] == h[3] and h[0] != h[2] != h[1]


def test_the_function_is_fixed() -> None:
    """Stored hashes must match later computations: this pins the function."""
    assert hashing.strings(pa.array(["Müller", None, ""])).tolist() == [
        hashing.strings(pa.array(["Müller"])).tolist()[0],
        int(hashing._NULL),
        hashing.strings(pa.array([""])).tolist()[0],
    ]
    assert hashing.rows(frame([("0815", "Müller", "2020-01-01")])).tolist() == [PINNED]


PINNED = 4809014916593389367


def _polynomial(value: bytes) -> int:
    """The hash of one value as the module defines it, the slow way."""
    total = sum(b * pow(hashing._P, j, 1 << 64) for j, b in enumerate(value)) % (1 << 64)
    return total ^ (len(value) * hashing._GOLD % (1 << 64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=20), max_size=40), st.integers(0, 5))
def test_spans_hash_each_range_as_the_definition_says(values: list, leading: int) -> None:
    """Empty ranges, ranges at the buffer's start and end: each hashes as it does alone."""
    data = b"x" * leading + b"".join(values)
    offsets = np.cumsum([leading, *map(len, values)])
    got = hashing._spans(np.frombuffer(data, np.uint8), offsets.astype(np.int64))
    assert got.tolist() == [_polynomial(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(text, text), max_size=30))
def test_all_distinct_says_whether_any_two_keys_are_equal(keys: list) -> None:
    a = pd.Series([k[0] for k in keys], dtype="str")
    b = pd.Series([k[1] for k in keys], dtype="str")
    assert hashing.all_distinct([a, b]) == (len(set(keys)) == len(keys))
    assert hashing.all_distinct([a]) == (len({k[0] for k in keys}) == len(keys))
