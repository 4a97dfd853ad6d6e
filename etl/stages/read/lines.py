"""Stage read, line level: the first lines of a body, one line split by the dialect, byte
positions found with numpy, and the ReadError of a rule from the catalogue."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from etl.core.errors import Location, ReadError
from etl.core.mapping_format import Dialect
from etl.core.rules import message

if TYPE_CHECKING:
    import numpy as np

HEADER_SCAN_LINES = 50


def read_error(
    rule: str, file: str, line: int | None = None, column: str | None = None, **params: object
) -> ReadError:
    de, en = message(rule, **params)
    return ReadError(en, Location(file, line, column), rule=rule, message_de=de)


def first_lines(body: bytes | bytearray) -> list[str]:
    head = body[: 1 << 20].split(b"\n", HEADER_SCAN_LINES)[:HEADER_SCAN_LINES]
    return [line.decode("utf-8", "replace").rstrip("\r") for line in head]


def split_line(line: str, dialect: Dialect) -> list[str]:
    rows = list(csv.reader([line], delimiter=dialect.delimiter, quotechar=dialect.quote))
    return rows[0] if rows else []


def positions(body: bytes | bytearray, byte: int) -> np.ndarray:
    """Offsets of every occurrence of ``byte``, found chunk by chunk (no file-sized temporary)."""
    import numpy as np  # here: the header's lines are found without it

    arr = np.frombuffer(body, np.uint8)
    chunk = 1 << 22
    found = [np.flatnonzero(arr[i : i + chunk] == byte) + i for i in range(0, len(arr), chunk)]
    return np.concatenate(found) if found else np.zeros(0, np.int64)
