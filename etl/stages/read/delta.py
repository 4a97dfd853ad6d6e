"""Stage read, line by line: an export's data lines as byte ranges with a 64-bit hash each, and
only some of them read — so that lines the last accepted export had already need not be parsed,
mapped or validated again (`etl.pipeline.delta`).

Only for files whose records read the same one by one as in the whole file: the quotes pair
up, UTF-8 or a one-byte legacy encoding (`line_local`), LF line ends.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.core import findings, hashing
from etl.core.errors import RejectedFile
from etl.core.mapping_format import Column, Dialect
from etl.core.model import SourceTable
from etl.stages.read.encoding import transcode
from etl.stages.read.header import resolve_columns
from etl.stages.read.lines import split_line
from etl.stages.read.parse import as_frame, parse_fast
from etl.stages.read.records import records
from etl.stages.read.table import Marks, finish


@dataclass(frozen=True)
class Lines:
    """A file's data records (a record is a line, or several where a quoted value holds line
    breaks): the physical line each begins on, its byte range and hash, and the header line's
    number and byte range."""

    numbers: np.ndarray  # 1-based
    starts: np.ndarray
    ends: np.ndarray  # after the record's newline, where it has one
    hashes: np.ndarray  # int64: `hashing.spans` over the record with its line end
    header: tuple[int, int]
    header_line: int


def data_lines(data: bytes, header_line: int, dialect: Dialect, encoding: str) -> Lines | None:
    """The data records below the header (line ``header_line``, 1-based), found as `records`
    finds them in the whole file; None when the quotes do not pair up (the whole file must be
    read then)."""
    if ord(dialect.quote) > 127 or ord(dialect.delimiter) > 127:
        return None
    starts, ends, numbers, body_end, balanced = records(data, header_line - 1, dialect,
                                                        encoding)
    if not balanced:
        return None
    ends = np.minimum(ends + 1, body_end)  # with the newline
    hashes = hashing.spans(np.frombuffer(data, np.uint8), np.append(starts, ends[-1:]))
    head = 0
    for _ in range(header_line - 1):
        head = data.index(b"\n", head) + 1
    span = (head, data.find(b"\n", head) + 1 or len(data))
    return Lines(numbers, starts, ends, hashes.view(np.int64), span, header_line)


def read_lines(data: bytes, lines: Lines, pick: np.ndarray, file: str, role: str,
               columns: Mapping[str, Column], dialect: Dialect, encoding: str,
               title: tuple[str, ...]) -> tuple[SourceTable, pd.DataFrame] | None:
    """The lines at ``pick`` (indices into ``lines``) read as `read_table` reads them in the
    whole file: the same rows, line numbers and findings. None when they do not parse as a
    whole file would (a ragged row, an undecodable byte): then the whole file must be read."""
    arr = np.frombuffer(data, np.uint8)
    starts, ends = lines.starts[pick], lines.ends[pick]
    content = ends - starts - (arr[ends - 1] == 10)
    content -= (content > 0) & (arr[np.maximum(starts + content - 1, 0)] == 13)
    keep = content > 0  # the parser skips blank lines: so must the line numbers
    starts, ends, numbers = starts[keep], ends[keep], lines.numbers[pick][keep]
    head = data[lines.header[0]:lines.header[1]]
    if lines.header[0] == 0:
        head = head.removeprefix(codecs.BOM_UTF8)
    view = memoryview(data)
    raw = b"".join([head.rstrip(b"\r\n"), b"\n",  # the picked lines' bytes, as they are
                    *(view[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True))])
    try:
        body = bytes(transcode(raw, encoding)) if not encoding.startswith("utf-8") else raw
        end = body.index(b"\n")
        header = split_line(body[:end].decode("utf-8"), dialect)
        places = resolve_columns(header, file, lines.header_line, columns)
    except (UnicodeDecodeError, RejectedFile):
        return None
    parsed = (parse_fast(memoryview(body)[end + 1:], header, places, dialect, len(numbers))
              if len(numbers) else pa.table({p: pa.array([], pa.string()) for p in places}))
    if parsed is None:
        return None
    frame = as_frame(parsed)
    frame["_line"] = numbers
    return finish(frame, findings.empty(), Marks.of(body), header, places, file, role, encoding,
                  lines.header_line, title, empty=True)
