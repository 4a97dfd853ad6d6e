"""Core: 64-bit row hashes over whole columns, without a Python object per value.

A row's text fields are joined into one Arrow string (ASCII unit separator between fields, NUL
for a missing value) and hashed straight from Arrow's buffers with numpy: a polynomial hash
over the bytes (prefix sums in uint64, wrapping mod 2^64, normalised by the inverse power of
each value's start), mixed with its length and finalised with splitmix64. Dates and numbers are
mixed in as their 64-bit patterns. The function is fixed: stored hashes (``row_hash``, the
client state) compare with those of later exports, across processes and versions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.core import textops

_P = 0x100000001B3  # odd, so invertible mod 2^64
_MASK = (1 << 64) - 1
_CHUNK = 1 << 18  # bytes hashed per numpy pass: its 2 MB of uint64 stay in the cache
_GOLD = 0x9E3779B97F4A7C15
_GOLDEN = np.uint64(_GOLD)
_NULL = np.uint64(0x5BD1E9955BD1E995)


def _powers(base: int, n: int) -> np.ndarray:
    steps = np.full(n + 1, base, dtype=np.uint64)
    steps[0] = 1
    return np.cumprod(steps, dtype=np.uint64)


_POW = _powers(_P, _CHUNK)
_INV = _powers(pow(_P, -1, 1 << 64), _CHUNK)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A uint64 hash per string (equal strings, equal hashes; null has its own)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    n = len(values)
    _, offset_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offset_buffer, np.int64, count=n + 1, offset=values.offset * 8)
    data = (np.frombuffer(data_buffer, np.uint8) if data_buffer is not None
            else np.zeros(0, np.uint8))
    out = spans(data, offsets)
    if values.null_count:
        out[np.asarray(values.is_null())] = _NULL
    return out


def spans(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A uint64 hash per byte range ``data[offsets[i]:offsets[i + 1]]`` (the same function as
    `strings`): a file's lines, say, with ``offsets`` where each begins."""
    return mix(_spans(data, offsets))


def _spans(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    n = len(offsets) - 1
    out = np.empty(max(n, 0), np.uint64)
    terms = np.zeros(_CHUNK + 1, np.uint64)  # a chunk's bytes times their powers, and a 0
    row = 0
    while row < n:
        base = offsets[row]
        stop = int(np.searchsorted(offsets, base + _CHUNK, side="right")) - 1
        stop = min(max(stop, row + 1), n)
        start = offsets[row:stop] - base
        end = offsets[row + 1:stop + 1] - base
        size = int(end[-1])
        if size > _CHUNK:  # one value longer than a chunk: hash it on its own
            out[row] = _long(data[base:base + size].tobytes())
            row += 1
            continue
        np.multiply(data[base:base + size], _POW[:size], out=terms[:size], dtype=np.uint64)
        terms[size] = 0  # an empty value at the chunk's end sums from here
        # the ranges are back to back: one pass sums each (an empty one gets a term: dropped)
        sums = np.add.reduceat(terms[:size + 1], start)
        sums[end == start] = 0
        out[row:stop] = sums * _INV[start] ^ (end - start).astype(np.uint64) * _GOLDEN
        row = stop
    return out


def all_distinct(columns: list[pd.Series]) -> bool:
    """Whether no two rows share the same values in these text columns: no two equal hashes
    among the sorted hashes of their joined values. A False may be a false alarm (a collision,
    or a value holding the separator); callers then check exactly."""
    hashes = np.sort(strings(textops.composite(columns)))
    return not (hashes[1:] == hashes[:-1]).any()


def _long(data: bytes) -> np.uint64:
    """The same polynomial hash for one very long value, in chunk-sized steps."""
    total, scale = 0, 1
    step = pow(_P, _CHUNK, 1 << 64)
    for at in range(0, len(data), _CHUNK):
        part = np.frombuffer(data[at:at + _CHUNK], np.uint8).astype(np.uint64)
        total = (total + int(np.sum(part * _POW[:len(part)], dtype=np.uint64)) * scale) & _MASK
        scale = scale * step & _MASK
    return np.uint64(total ^ (len(data) * _GOLD & _MASK))


def rows(frame: pd.DataFrame) -> np.ndarray:
    """A signed 64-bit hash per row of ``frame`` (text, datetime64 and float64 columns)."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    h = (strings(textops.composite([frame[c] for c in text])) if text
         else np.zeros(len(frame), np.uint64))
    for position, column in enumerate(c for c in frame.columns if c not in text):
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            bits = values.to_numpy("datetime64[s]").view(np.int64).astype(np.uint64)
        else:
            floats = values.to_numpy(np.float64, na_value=np.nan) + 0.0  # -0.0 -> 0.0
            floats[np.isnan(floats)] = np.nan  # one NaN pattern
            bits = floats.view(np.uint64)
        h = mix(h ^ mix(bits + np.uint64((position + 1) * _GOLD & _MASK)))
    return h.view(np.int64)
