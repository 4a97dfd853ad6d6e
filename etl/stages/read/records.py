"""Stage read, record boundaries: where each record after the header starts and ends and on
which physical line, computed on the whole byte buffer with numpy (a newline ends a record unless
it sits inside quotes), and where trailing summary lines begin."""

from __future__ import annotations

import re

import numpy as np

from etl.core.mapping_format import Dialect
from etl.stages.read.lines import positions


def records(
    body: bytes | bytearray, header_idx: int, dialect: Dialect, encoding: str = "utf-8"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Start/end byte offsets and first physical line of each record after the header, where
    the data ends, and whether the quotes pair up. ``encoding``: the body's (UTF-8 once decoded;
    the file's own for its raw bytes — newlines and quotes are the same bytes in both).

    A newline ends a record unless it sits inside quotes; with doubled quotes as escapes, that is
    exactly when an odd number of quote characters precede it. When they do not pair up (a stray
    ``24"`` in a free text, or a quote never closed) every newline ends a record here, and the
    standard library's csv module decides (the exact path).
    """
    newlines = positions(body, 10)
    quotes = positions(body, ord(dialect.quote))
    balanced = len(quotes) % 2 == 0
    if balanced:
        ends_record = (np.searchsorted(quotes, newlines) & 1) == 0
    else:
        ends_record = np.ones(len(newlines), bool)
    nl_index = np.flatnonzero(ends_record)
    header_nl = newlines[header_idx] if header_idx < len(newlines) else len(body)
    after = nl_index[newlines[nl_index] > header_nl]  # record ends after the header
    body_end = _footer_start(body, newlines, after, dialect, encoding)
    ends = newlines[after]
    starts = np.concatenate(([header_nl + 1], ends[:-1] + 1)) if len(ends) else np.zeros(0, int)
    lines = np.concatenate(([header_idx + 2], after[:-1] + 2)) if len(ends) else np.zeros(0, int)
    if body_end > (ends[-1] + 1 if len(ends) else header_nl + 1):  # last record without newline
        starts = np.append(starts, ends[-1] + 1 if len(ends) else header_nl + 1)
        lines = np.append(lines, after[-1] + 2 if len(after) else header_idx + 2)
        ends = np.append(ends, body_end)
    keep = ends <= body_end
    keep &= starts < body_end
    return starts[keep], ends[keep], lines[keep].astype(np.int64), int(body_end), balanced


def _footer_start(
    body: bytes | bytearray, newlines: np.ndarray, ends: np.ndarray, dialect: Dialect,
    encoding: str,
) -> int:
    """Byte offset where trailing summary lines (and blank lines) begin; the file's end if none."""
    end = len(body)
    if not dialect.footer:
        return end
    pattern = re.compile(dialect.footer)
    record_ends = newlines[ends]
    for k in range(len(record_ends) - 1, -1, -1):
        line = body[int(record_ends[k]) + 1 : end].decode(encoding, "replace").strip()
        if line and not pattern.search(line.strip(dialect.quote)):
            break
        end = int(record_ends[k]) + 1
    return end
