"""Stage read: bytes -> table of strings (kept columns only), with the source line of every row.

Encoding is detected (BOM; valid UTF-8; else the mapping's legacy encoding), never trusted blindly.
The header is found by its column names (title lines above it are skipped), summary lines below
the data are cut, and only the columns the mapping names are materialised: everything else (bank
data, rents, birth dates) is dropped while parsing. Parsing is pyarrow's multi-threaded CSV
reader; the physical line of each record is computed on the whole byte buffer with numpy
(newlines outside quotes end records). Files with ragged rows take a slower exact path through
the standard library's csv module, which reports each bad row by line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Mapping as MappingT

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from etl import findings, textops
from etl.config import Column, Dialect
from etl.errors import Location, MappingError, ReadError
from etl.models import SourceTable

HEADER_SCAN_LINES = 50
_UNIT_SEPARATOR = "\x1f"
_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")
# UTF-8 text decoded as Windows-1252/Latin-1 ("MÃ¼ller", "StraÃŸe", "â€ž") and the like.
_MOJIBAKE = "Ã[\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]|Â[\u00a0-\u00bf]|â€"
# A '?' or U+FFFD between letters: a character lost by a lossy save ("M?ller", "Stra?e").
_LOSSY = "[A-Za-zÄÖÜäöüß]\\?[A-Za-zäöüß]|\ufffd"


def normalise_header(name: str) -> str:
    """Header text compared without case, BOM, spacing and punctuation ("E-Mail " == "email")."""
    name = unicodedata.normalize("NFC", name.replace("\ufeff", "")).casefold()
    return "".join(ch for ch in name if ch.isalnum())


def read_table(
    data: bytes, file: str, role: str, columns: MappingT[str, Column], dialect: Dialect
) -> tuple[SourceTable, pd.DataFrame]:
    """Read one export file; returns the table and cell-level findings.

    Raises ReadError when the bytes cannot be read at all (empty, binary, undecodable, no header,
    unclosed quote) and MappingError when a required column is missing.
    """
    try:
        body, encoding = _decode(data, file, dialect.encoding)
    except _BadByte as bad:
        raise _undecodable(bad, file, columns, dialect) from None
    lines = _first_lines(body)
    header_idx = _find_header(lines, file, columns, dialect)
    header = _split_line(lines[header_idx], dialect)
    positions = _resolve_columns(header, file, header_idx + 1, columns)

    starts, ends, first_line, body_end = _records(body, file, header_idx, dialect)
    data_body = memoryview(body)[starts[0] if len(starts) else body_end : body_end]
    # pyarrow skips empty lines ("" or a lone CR); so must the line numbers
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (np.frombuffer(body, np.uint8)[starts] == 13))
    lines_of_rows = first_line[~blank]
    if not len(lines_of_rows):
        raise _read_error("file.no_data", file, header_idx + 1)

    frame = _parse_fast(data_body, header, positions, dialect, len(lines_of_rows))
    bad_rows = findings.empty()
    if frame is None:
        frame, bad_rows = _parse_exact(
            bytes(data_body), header, positions, dialect, file, int(first_line[0])
        )
    else:
        frame["_line"] = lines_of_rows
    frame = _clean(frame, list(positions), nbsp="\u00a0".encode() in body)
    kept = list(positions)
    frame = frame[~(frame[kept] == "").all(axis=1)].reset_index(drop=True)
    if frame.empty and bad_rows.empty:
        raise _read_error("file.no_data", file, header_idx + 1)
    headers = {name: header[i].strip().replace("\ufeff", "") for name, i in positions.items()}
    table = SourceTable(file, role, frame, headers, encoding, header_idx + 1)
    suspect = _may_be_garbled(body)
    encoding_problems = _encoding_findings(frame, headers, file) if suspect else findings.empty()
    return table, findings.concat([bad_rows, encoding_problems])


class _BadByte(Exception):
    def __init__(self, data: bytes, offset: int, encoding: str):
        self.data, self.offset, self.encoding = data, offset, encoding


def _decode(data: bytes, file: str, legacy: str) -> tuple[bytes | bytearray, str]:
    """UTF-8 bytes of the file and the encoding it was written in; raises _BadByte."""
    if re.match(rb"\s*\Z", data):
        raise _read_error("file.empty", file)
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc).encode("utf-8"), "utf-16"
            except UnicodeDecodeError as exc:
                raise _read_error("file.binary", file) from exc
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:65536]:
        raise _read_error("file.binary", file)
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
        legacy = "utf-8"
    try:
        _transcode(data, "utf-8", validate_only=True)
        return data, "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if codecs.lookup(legacy).name == "utf-8":
            raise _BadByte(data, exc.start, "UTF-8") from exc
    try:
        return _transcode(data, legacy), legacy
    except UnicodeDecodeError as exc:
        raise _BadByte(data, exc.start, f"UTF-8 oder/or {legacy}") from exc


def _transcode(data: bytes, encoding: str, validate_only: bool = False) -> bytearray:
    """``data`` decoded from ``encoding`` and written as UTF-8, chunk by chunk so that no
    file-sized str is ever held. UnicodeDecodeError offsets are offsets in ``data``."""
    decoder = codecs.getincrementaldecoder(encoding)()
    out = bytearray()
    chunk = 1 << 22
    for start in range(0, len(data), chunk):
        pending = len(decoder.getstate()[0])  # bytes of a character split by the last chunk
        try:
            text = decoder.decode(data[start : start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            offset = start - pending
            raise UnicodeDecodeError(exc.encoding, data, offset + exc.start, offset + exc.end,
                                     exc.reason) from None
        if not validate_only:
            out += text.encode("utf-8")
    return out


def _undecodable(
    bad: _BadByte, file: str, columns: MappingT[str, Column], dialect: Dialect
) -> ReadError:
    """Point at the line and, where the header can be found, the column of an undecodable byte."""
    data, offset = bad.data, bad.offset
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    field = data[line_start:offset].count(dialect.delimiter.encode())
    column = f"Feld/field {field + 1}"
    try:
        text = data.decode("utf-8", "replace").encode("utf-8")
        lines = _first_lines(text)
        header = _split_line(lines[_find_header(lines, file, columns, dialect)], dialect)
        if field < len(header):
            column = header[field].strip()
    except ReadError:
        pass
    return _read_error("encoding.undecodable", file, line, column, byte=f"{data[offset]:02X}",
                       encoding=bad.encoding)


def _read_error(
    rule: str, file: str, line: int | None = None, column: str | None = None, **params: object
) -> ReadError:
    de, en = findings.message(rule, **params)
    return ReadError(en, Location(file, line, column), rule=rule, message_de=de)


def _first_lines(body: bytes | bytearray) -> list[str]:
    head = body[: 1 << 20].split(b"\n", HEADER_SCAN_LINES)[:HEADER_SCAN_LINES]
    return [line.decode("utf-8", "replace").rstrip("\r") for line in head]


def _split_line(line: str, dialect: Dialect) -> list[str]:
    rows = list(csv.reader([line], delimiter=dialect.delimiter, quotechar=dialect.quote))
    return rows[0] if rows else []


def _find_header(
    lines: list[str], file: str, columns: MappingT[str, Column], dialect: Dialect
) -> int:
    """Index of the header line: the configured one, or the first that names the most columns."""
    if dialect.header_line != "auto":
        if dialect.header_line > len(lines):
            raise _read_error("header.not_found", file, dialect.header_line,
                              expected=_expected(columns))
        return dialect.header_line - 1
    known = {normalise_header(n) for c in columns.values() for n in (c.header, *c.aliases)}
    scores = [
        len({normalise_header(f) for f in _split_line(line, dialect)} & known) for line in lines
    ]
    best = max(scores, default=0)
    required = sum(not c.optional for c in columns.values())
    if best >= max(1, min(3, required // 2)):
        return scores.index(best)
    de, en = findings.message("header.not_found", expected=_expected(columns))
    sample = "\n".join(lines[:10])
    others = [d for d in ";,\t|" if d != dialect.delimiter and sample.count(d) > sample.count(
        dialect.delimiter)]
    if others:
        (want_de, want_en), (got_de, got_en) = map(_delimiter_name, (dialect.delimiter, others[0]))
        de += f" Erwartet wird das Trennzeichen {want_de}, die Datei verwendet offenbar {got_de}."
        en += f" Expected delimiter {want_en}, the file seems to use {got_en}."
    raise ReadError(en, Location(file), rule="header.not_found", message_de=de)


def _delimiter_name(d: str) -> tuple[str, str]:
    names = {"\t": ("Tabulator", "tab"), ";": ("Semikolon", "semicolon"),
             ",": ("Komma", "comma"), "|": ("senkrechter Strich", "pipe")}
    return names.get(d, (f"„{d}“", repr(d)))


def _expected(columns: MappingT[str, Column]) -> str:
    names = [c.header for c in columns.values() if not c.optional]
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "")


def _resolve_columns(
    header: list[str], file: str, line: int, columns: MappingT[str, Column]
) -> dict[str, int]:
    """Source field -> position in the header; raises MappingError for missing/duplicate names."""
    index: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        index.setdefault(normalise_header(name), []).append(i)
    positions: dict[str, int] = {}
    missing: list[str] = []
    for name, col in columns.items():
        hits = [i for n in (col.header, *col.aliases) for i in index.get(normalise_header(n), [])]
        hits = sorted(set(hits))
        if len(hits) > 1:
            de, en = findings.message("header.duplicate_column", column=col.header)
            raise MappingError(en, Location(file, line, col.header),
                               rule="header.duplicate_column", message_de=de)
        if hits:
            positions[name] = hits[0]
        elif not col.optional:
            missing.append(col.header)
    if missing:
        cols = ", ".join(missing)
        de, en = findings.message("header.missing_column", column=cols)
        raise MappingError(en, Location(file, line, cols), rule="header.missing_column",
                           message_de=de)
    return positions


def _records(
    body: bytes | bytearray, file: str, header_idx: int, dialect: Dialect
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Start/end byte offsets and first physical line of each record after the header.

    A newline ends a record unless it sits inside quotes; with doubled quotes as escapes, that is
    exactly when an odd number of quote characters precede it.
    """
    newlines = _positions(body, 10)
    quotes = _positions(body, ord(dialect.quote))
    ends_record = (np.searchsorted(quotes, newlines) & 1) == 0
    nl_index = np.flatnonzero(ends_record)
    header_nl = newlines[header_idx] if header_idx < len(newlines) else len(body)
    after = nl_index[newlines[nl_index] > header_nl]  # record ends after the header
    body_end = _footer_start(body, newlines, after, dialect)
    if len(quotes) % 2:
        open_at = int(newlines[after[-1]]) + 1 if len(after) else 0
        raise _read_error("row.unclosed_quote", file, body.count(b"\n", 0, open_at) + 1)
    ends = newlines[after]
    starts = np.concatenate(([header_nl + 1], ends[:-1] + 1)) if len(ends) else np.zeros(0, int)
    lines = np.concatenate(([header_idx + 2], after[:-1] + 2)) if len(ends) else np.zeros(0, int)
    if body_end > (ends[-1] + 1 if len(ends) else header_nl + 1):  # last record without newline
        starts = np.append(starts, ends[-1] + 1 if len(ends) else header_nl + 1)
        lines = np.append(lines, after[-1] + 2 if len(after) else header_idx + 2)
        ends = np.append(ends, body_end)
    keep = ends <= body_end
    keep &= starts < body_end
    return starts[keep], ends[keep], lines[keep].astype(np.int64), int(body_end)


def _positions(body: bytes | bytearray, byte: int) -> np.ndarray:
    """Offsets of every occurrence of ``byte``, found chunk by chunk (no file-sized temporary)."""
    arr = np.frombuffer(body, np.uint8)
    chunk = 1 << 22
    found = [np.flatnonzero(arr[i : i + chunk] == byte) + i for i in range(0, len(arr), chunk)]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _footer_start(
    body: bytes | bytearray, newlines: np.ndarray, ends: np.ndarray, dialect: Dialect
) -> int:
    """Byte offset where trailing summary lines (and blank lines) begin; the file's end if none."""
    end = len(body)
    if not dialect.footer:
        return end
    pattern = re.compile(dialect.footer)
    record_ends = newlines[ends]
    for k in range(len(record_ends) - 1, -1, -1):
        line = body[int(record_ends[k]) + 1 : end].decode("utf-8", "replace").strip()
        if line and not pattern.search(line.strip(dialect.quote)):
            break
        end = int(record_ends[k]) + 1
    return end


def _parse_fast(
    body: memoryview,
    header: list[str],
    positions: dict[str, int],
    dialect: Dialect,
    expected_rows: int,
) -> pd.DataFrame | None:
    """pyarrow's reader; None when a row does not fit the header (the exact path takes over)."""
    names = [f"c{i}" for i in range(len(header))]
    kept = [f"c{i}" for i in positions.values()]
    ragged: list[object] = []

    def on_invalid(row: object) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote,
                double_quote=True,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=kept,
                column_types=dict.fromkeys(kept, pa.large_string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if ragged or table.num_rows != expected_rows:
        return None
    frame = table.to_pandas(self_destruct=True)
    frame.columns = list(positions)
    return frame


def _parse_exact(
    body: bytes | bytearray,
    header: list[str],
    positions: dict[str, int],
    dialect: Dialect,
    file: str,
    first_line: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard library's csv reader, row by row: slower, but names every ragged row's line.

    Trailing delimiters that an export puts on every data row (but not on the header) are
    accepted; any other row whose field count differs from the header's is a finding — even one
    whose extra field is empty, since that is what an unquoted delimiter in a value looks like.
    """
    reader = csv.reader(
        io.StringIO(body.decode("utf-8"), newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        doublequote=True,
        strict=False,
    )
    records: list[list[str]] = []
    lines: list[int] = []
    next_line = first_line
    for record in reader:
        if record:
            records.append(record)
            lines.append(next_line)
        next_line = first_line + reader.line_num
    width = len(header)
    counts = pd.Series([len(r) for r in records], dtype="int64")
    if len(counts) and counts.min() == counts.max() > width and not any(
        f.strip() for r in records for f in r[width:]
    ):
        counts[:] = width  # trailing delimiters on every row: an export habit, not damage
    good = (counts == width).to_numpy()
    kept_pos = list(positions.values())
    frame = pd.DataFrame(
        [[r[i] for i in kept_pos] for r, ok in zip(records, good, strict=True) if ok],
        columns=list(positions),
        dtype="str",
    )
    line_numbers = np.asarray(lines, dtype=np.int64)
    frame["_line"] = line_numbers[good]
    if good.all():
        return frame, findings.empty()
    bad_rows = findings.make(
        "row.field_count",
        file=file,
        line=pd.Series(line_numbers[~good]),
        column=None,
        value=pd.Series([len(r) for r, ok in zip(records, good, strict=True) if not ok]).astype(
            "str"),
        expected=width,
    )
    return frame, bad_rows


def _clean(frame: pd.DataFrame, kept: list[str], nbsp: bool) -> pd.DataFrame:
    """Trim blanks (non-breaking spaces included); whitespace-only cells become empty; a
    non-breaking space inside a value becomes a plain one."""
    for name in kept:
        col = textops.trim(frame[name])
        frame[name] = textops.replace_literal(col, "\u00a0", " ") if nbsp else col
    return frame


def _may_be_garbled(body: bytes | bytearray) -> bool:
    """Whether the UTF-8 body holds a '?', or a byte pair that starts 'Ã', 'Â', 'â' or U+FFFD.

    Without them there can be neither mojibake nor a lossy save; one numpy pass over the file
    spares the cell-by-cell regular expressions in the common, clean case.
    """
    if b"?" in body:
        return True
    arr = np.frombuffer(body, np.uint8)
    chunk = 1 << 22
    for start in range(0, max(len(arr) - 1, 0), chunk):
        part = arr[start : start + chunk + 1]
        lead = np.flatnonzero((part[:-1] == 0xC3) | (part[:-1] == 0xEF))
        if np.isin(part[lead + 1], (0x82, 0x83, 0xA2, 0xBF)).any():
            return True
    return False


def _encoding_findings(frame: pd.DataFrame, headers: dict[str, str], file: str) -> pd.DataFrame:
    """Mojibake and lossy saves: one regex pass over all kept cells of a row joined together,
    then a closer look at the few rows that hit."""
    if frame.empty or not headers:
        return findings.empty()
    joined = textops.join([frame[name] for name in headers], _UNIT_SEPARATOR)
    suspect = frame[textops.contains(joined, f"{_MOJIBAKE}|{_LOSSY}")]
    parts = []
    for name, header in headers.items():
        col = suspect[name]
        for rule, pattern in (("encoding.mojibake", _MOJIBAKE), ("encoding.lossy", _LOSSY)):
            hit = textops.contains(col, pattern)
            if hit.any():
                parts.append(
                    findings.make(rule, file=file, line=suspect.loc[hit, "_line"], column=header,
                                  value=col[hit])
                )
    return findings.concat(parts)
