"""Stage read, the raw data lines: a digest of a file's bytes from its header line on, and the
header found from the first lines alone. Equal digests mean equal rows read equally, so an
export whose data lines are those of the last accepted one need not be read again
(`etl.pipeline.unchanged`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from etl.core.errors import RejectedFile
from etl.core.mapping_format import Column, Dialect
from etl.stages.read.header import find_header
from etl.stages.read.lines import first_lines

# A line above the header that cannot change how the rest of the file reads: printable ASCII
# (no byte order mark, no byte of another encoding, no NUL of a binary file), ending in a newline.
_PLAIN_LINE = re.compile(rb"[\t\x20-\x7e]*\r?\n")


def body_digest(data: bytes, header_line: int, encoding: str) -> str | None:
    """SHA-256 of the encoding and the bytes from the header line (1-based) to the end; None when
    a line above the header is not plain ASCII — another title could then decode the same bytes
    otherwise."""
    start = 0
    for _ in range(header_line - 1):
        line = _PLAIN_LINE.match(data, start)
        if line is None:
            return None
        start = line.end()
    digest = hashlib.sha256(encoding.encode() + b"\0")
    digest.update(memoryview(data)[start:])
    return digest.hexdigest()


def head_of(data: bytes, file: str, columns: Mapping[str, Column], dialect: Dialect,
            encoding: str) -> tuple[int, tuple[str, ...]] | None:
    """The header line (1-based) and the title lines above it, read from the first lines in
    ``encoding`` as `read_table` finds them; None when the file has no newline near its start
    (an old Mac file: only the full read converts its line ends) or no header."""
    head = data[: 1 << 20]
    if b"\n" not in head:
        return None
    lines = first_lines(head.decode(encoding, "replace").encode())
    try:
        index = find_header(lines, file, columns, dialect)
    except RejectedFile:  # no header: the full read reports it
        return None
    return index + 1, tuple(lines[:index])
