"""Stage read, the table: an export's bytes -> its table of strings (see the package)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.core import findings
from etl.core.mapping_format import Column, Dialect
from etl.core.meanwhile import meanwhile
from etl.core.model import LINE, SourceTable
from etl.core.trim import trim
from etl.stages.read.encoding import (
    BadByte,
    character_findings,
    decode,
    has_control,
    may_be_garbled,
    undecodable,
)
from etl.stages.read.header import find_header, resolve_columns
from etl.stages.read.lines import first_lines, read_error, split_line
from etl.stages.read.parse import as_frame, clean, parse_exact, parse_fast
from etl.stages.read.records import records

Raw = Callable[[bytes, int, str], None]


def read_table(
    data: bytes, file: str, role: str, columns: Mapping[str, Column], dialect: Dialect,
    raw: Raw | None = None,
) -> tuple[SourceTable, pd.DataFrame]:
    """Read one export file; returns the table and cell-level findings.

    ``raw(data, header_line, encoding)``: what the caller needs of the file's bytes, called
    once the header is found and before the bytes are let go — a caller that hands over the
    only reference (``read_table(path.read_bytes(), …)``) does not hold a legacy file's bytes
    while their UTF-8 copy is parsed (175 MB of 800k rows).

    Raises ReadError when the bytes cannot be read at all (empty, binary, undecodable, no header,
    unclosed quote, a line the CSV parser gives up on) and MappingError when a required column is
    missing. The parsers' own errors (``csv.Error``, ``UnicodeError``) never leave this stage.
    """
    given = [data]
    del data  # `_read` holds the only reference
    try:
        return _read(given, file, role, columns, dialect, raw)
    except csv.Error as exc:
        raise read_error("row.unreadable", file, detail=str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise read_error("encoding.undecodable", file, byte=f"{exc.object[exc.start]:02X}",
                         encoding=exc.encoding) from exc
    except UnicodeError as exc:
        raise read_error("row.unreadable", file, detail=str(exc)) from exc


def _read(
    given: list[bytes], file: str, role: str, columns: Mapping[str, Column], dialect: Dialect,
    raw: Raw | None,
) -> tuple[SourceTable, pd.DataFrame]:
    data = given.pop()
    try:
        body, encoding = decode(data, file, dialect.encoding)
    except BadByte as bad:
        raise undecodable(bad, file, columns, dialect) from None
    lines = first_lines(body)
    header_idx = find_header(lines, file, columns, dialect)
    # what the caller needs of the file's bytes, on the other core while the records are found
    given_raw = meanwhile(raw, data, header_idx + 1, encoding) if raw is not None else None
    del data  # a legacy file's bytes: only their UTF-8 copy is parsed
    try:
        header = split_line(lines[header_idx], dialect)
        positions = resolve_columns(header, file, header_idx + 1, columns)
        data_body, lines_of_rows, first, balanced = _records(body, header_idx, file, dialect)
        marks = Marks.of(body)
    finally:
        if given_raw is not None:
            given_raw.result()  # and with it the file's bytes are let go
    trim()  # what decoding and finding the records freed: not held while the rows are parsed
    parsed = (parse_fast(data_body, header, positions, dialect, len(lines_of_rows)) if balanced
              else None)
    bad_rows = findings.empty()
    if parsed is None:
        frame, bad_rows = parse_exact(
            bytes(data_body), header, positions, dialect, file, first,
            unbalanced=not balanced)
    # the decoded text (a copy of a legacy file's): not held while the rows are converted
    del data_body, body
    if parsed is not None:
        frame = as_frame(parsed)
        frame["_line"] = lines_of_rows
    return finish(frame, bad_rows, marks, header, positions, file, role, encoding,
                  header_idx + 1, tuple(lines[:header_idx]))


def _records(body: bytes | bytearray, header_idx: int, file: str, dialect: Dialect
             ) -> tuple[memoryview, np.ndarray, int, bool]:
    """The data records' bytes, the line each row begins on, the first one's, and whether the
    quotes pair up."""
    starts, ends, first_line, body_end, balanced = records(body, header_idx, dialect)
    data_body = memoryview(body)[starts[0] if len(starts) else body_end : body_end]
    # pyarrow skips empty lines ("" or a lone CR); so must the line numbers
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (np.frombuffer(body, np.uint8)[starts] == 13))
    lines_of_rows = first_line[~blank]
    if not len(lines_of_rows):
        raise read_error("file.no_data", file, header_idx + 1)
    return data_body, lines_of_rows, int(first_line[0]), balanced


@dataclass(frozen=True)
class Marks:
    """What the cells' checks need to know of the UTF-8 text the rows were parsed from: whether
    it holds a non-breaking space, may hold garbled text, holds a control character."""

    nbsp: bool
    garbled: bool
    control: bool

    @classmethod
    def of(cls, body: bytes | bytearray) -> Marks:
        return cls("\u00a0".encode() in body, may_be_garbled(body), has_control(body))


def finish(frame: pd.DataFrame, bad_rows: pd.DataFrame, marks: Marks,
           header: list[str], positions: dict[str, int], file: str, role: str, encoding: str,
           header_line: int, title: tuple[str, ...], empty: bool = False
           ) -> tuple[SourceTable, pd.DataFrame]:
    """The parsed rows (``_line`` set) as a SourceTable: cells trimmed, empty rows dropped, the
    characters of every cell checked (``marks``: of the UTF-8 bytes the rows were parsed from).
    ``empty``: the rows are some of a file's, and may be none."""
    frame["_line"] = frame["_line"].to_numpy(LINE)
    frame = clean(frame, list(positions), nbsp=marks.nbsp)
    kept = list(positions)
    frame = frame[~(frame[kept] == "").all(axis=1)].reset_index(drop=True)
    if frame.empty and bad_rows.empty and not empty:
        raise read_error("file.no_data", file, header_line)
    found = tuple(h.strip().replace("\ufeff", "") for h in header)
    headers = {name: found[i] for name, i in positions.items()}
    table = SourceTable(file, role, frame, headers, encoding, header_line, found, title)
    characters = character_findings(frame, headers, file, garbled=marks.garbled,
                                    control=marks.control)
    return table, findings.concat([bad_rows, characters])
