"""Stage read, the encoding and the characters: the encoding is detected (BOM; valid UTF-8; else
the mapping's legacy encoding), never trusted blindly; an undecodable byte is pointed at by line
and column; mojibake, lossy saves and control characters are found in the decoded cells."""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from etl.core import findings, textops
from etl.core.errors import ReadError
from etl.core.exports import printable
from etl.core.mapping_format import Column, Dialect
from etl.stages.read.header import find_header
from etl.stages.read.lines import first_lines, read_error, split_line

_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# UTF-8 text decoded as Windows-1252/Latin-1 ("MÃ¼ller", "StraÃŸe", "â€ž") and the like.
_MOJIBAKE = "Ã[\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]|Â[\u00a0-\u00bf]|â€"


class BadByte(Exception):
    def __init__(self, data: bytes, offset: int, encoding: str):
        self.data, self.offset, self.encoding = data, offset, encoding


def decode(data: bytes, file: str, legacy: str) -> tuple[bytes | bytearray, str]:
    """UTF-8 bytes of the file and the encoding it was written in; raises BadByte."""
    if re.match(rb"\s*\Z", data.removeprefix(codecs.BOM_UTF8)):
        raise read_error("file.empty", file)
    for bom, enc in _WIDE_BOMS:  # UTF-32 first: its little-endian BOM starts like UTF-16's
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise read_error("file.binary", file) from exc
            if "\x00" in text[:65536]:  # not text in this encoding after all
                raise read_error("file.binary", file)
            return _lines_end_in_lf(text.encode("utf-8")), enc
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:65536]:
        raise read_error("file.binary", file)
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
        legacy = "utf-8"
    try:
        transcode(data, "utf-8", validate_only=True)
        return _lines_end_in_lf(data), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if codecs.lookup(legacy).name == "utf-8":
            raise BadByte(data, exc.start, "UTF-8") from exc
        if _mixed(data):
            line = data.count(b"\n", 0, exc.start) + 1
            raise read_error("encoding.mixed", file, line, legacy=legacy) from exc
    try:
        return _lines_end_in_lf(transcode(data, legacy)), legacy
    except UnicodeDecodeError as exc:
        raise BadByte(data, exc.start, f"UTF-8 oder/or {legacy}") from exc


def line_local(data: bytes, legacy: str) -> str | None:
    """The encoding `decode` reads ``data`` in when every line decodes on its own in it: UTF-8
    (with or without BOM) or a one-byte legacy encoding, with LF line ends; else None. Whether
    it is that one depends on the whole file (one byte that is not UTF-8 makes it the legacy
    encoding), so the whole file is looked at — but not decoded."""
    if (data.startswith(_BINARY_MAGIC) or b"\x00" in data[:65536] or b"\n" not in data[:1 << 20]
            or any(data.startswith(bom) for bom, _ in _WIDE_BOMS)):
        return None
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        transcode(data[len(codecs.BOM_UTF8):] if bom else data, "utf-8", validate_only=True)
        return "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    if bom or codecs.lookup(legacy).name == "utf-8" or not by_line(data, legacy) or _mixed(data):
        return None
    return legacy


def by_line(data: bytes, encoding: str) -> bool:
    """Whether a file ``decode`` read in ``encoding`` decodes line by line as it did whole: UTF-8
    or one byte per character, and LF line ends (no old Mac file)."""
    one_byte = len(bytes(range(256)).decode(encoding, "replace")) == 256
    return (encoding.startswith("utf-8") or one_byte) and b"\n" in data[: 1 << 20]


def _mixed(data: bytes) -> bool:
    """Whether a file that is not UTF-8 holds a whole line that is: a UTF-8 letter with a
    diacritic on a line that decodes as UTF-8 (lines of two encodings put together)."""
    at = _utf8_letter(data)
    if at < 0:
        return False
    start = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at + 2)
    try:
        data[start : end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_letter(data: bytes) -> int:
    """Offset of the first UTF-8 encoded letter with a diacritic (Ä, ö, ß, é, ...: a byte
    C3–C5 before one of 80–BF) — in a file that is not UTF-8, a sign that lines of two encodings
    were put together — or -1. numpy over 4 MB chunks: a regular expression took 0.8 s for a
    180 MB file that has none."""
    arr = np.frombuffer(data, np.uint8)
    chunk = 1 << 22
    for start in range(0, len(arr) - 1, chunk):
        lead = np.flatnonzero(arr[start : start + chunk] - np.uint8(0xC3) <= 2) + start
        lead = lead[lead + 1 < len(arr)]
        hit = lead[(arr[lead + 1] & 0xC0) == 0x80]  # 80–BF: a continuation byte
        if len(hit):
            return int(hit[0])
    return -1


def _lines_end_in_lf(body: bytes | bytearray) -> bytes | bytearray:
    """Old Mac files end their lines with a lone CR: those become LF (CRLF stays)."""
    if b"\n" in body[: 1 << 20] or b"\r" not in body[: 1 << 20]:
        return body
    return body.replace(b"\r", b"\n")


def transcode(data: bytes, encoding: str, validate_only: bool = False) -> bytearray:
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


def undecodable(
    bad: BadByte, file: str, columns: Mapping[str, Column], dialect: Dialect
) -> ReadError:
    """Point at the line and, where the header can be found, the column of an undecodable byte."""
    data, offset = bad.data, bad.offset
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    field = data[line_start:offset].count(dialect.delimiter.encode())
    column = f"Feld/field {field + 1}"
    try:
        text = data.decode("utf-8", "replace").encode("utf-8")
        lines = first_lines(text)
        header = split_line(lines[find_header(lines, file, columns, dialect)], dialect)
        if field < len(header):
            column = header[field].strip()
    except ReadError:
        pass
    return read_error("encoding.undecodable", file, line, column, byte=f"{data[offset]:02X}",
                       encoding=bad.encoding)


def may_be_garbled(body: bytes | bytearray) -> bool:
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


# Control characters have no place in an export's text: a NUL cannot even be stored
# (PostgreSQL refuses it). Tab, line feed and carriage return are text.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_CONTROL_BYTES = np.zeros(256, bool)
_CONTROL_BYTES[[*range(0, 9), 11, 12, *range(14, 32), 127]] = True


def has_control(body: bytes | bytearray) -> bool:
    """Whether the body holds a control character (numpy, chunk by chunk: the bytes below 32
    and DEL first, a lookup only for those — mostly line ends)."""
    arr = np.frombuffer(body, np.uint8)
    chunk = 1 << 22
    for start in range(0, len(arr), chunk):
        part = arr[start : start + chunk]
        low = np.flatnonzero((part < 32) | (part == 127))
        if _CONTROL_BYTES[part[low]].any():
            return True
    return False


def character_findings(frame: pd.DataFrame, headers: dict[str, str], file: str, *,
                       garbled: bool, control: bool) -> pd.DataFrame:
    """Mojibake and lossy saves (``garbled``), control characters (``control``): one regex pass
    over all kept cells of a row joined together, then a closer look at the few rows that hit.
    A control character is shown escaped (``\\x00``)."""
    garbling = {"encoding.mojibake": _MOJIBAKE, "encoding.lossy": textops.LOST_CHARACTER}
    rules = {**(garbling if garbled else {}),
             **({"value.control_character": _CONTROL} if control else {})}
    if frame.empty or not headers or not rules:
        return findings.empty()
    joined = textops.join([frame[name] for name in headers], "\n")
    suspect = frame[textops.contains(joined, "|".join(rules.values()))]
    parts = []
    for name, header in headers.items():
        col = suspect[name]
        for rule, pattern in rules.items():
            hit = textops.contains(col, pattern)
            if hit.any():
                shown = col[hit].map(printable) if rule == "value.control_character" else col[hit]
                parts.append(findings.make(rule, file=file, line=suspect.loc[hit, "_line"],
                                           column=header, value=shown))
    return findings.concat(parts)
