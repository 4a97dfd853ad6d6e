"""Stage read, the header: found by its column names below any title lines, and each source
field the mapping names resolved to its position (missing or doubled columns are errors)."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Mapping

from etl.core.errors import Location, MappingError, ReadError
from etl.core.mapping_format import Column, Dialect
from etl.core.rules import message
from etl.stages.read.lines import read_error, split_line


def normalise_header(name: str) -> str:
    """Header text compared without case, BOM, spacing and punctuation ("E-Mail " == "email")."""
    name = unicodedata.normalize("NFC", name.replace("\ufeff", "")).casefold()
    return "".join(ch for ch in name if ch.isalnum())


def find_header(
    lines: list[str], file: str, columns: Mapping[str, Column], dialect: Dialect
) -> int:
    """Index of the header line: the configured one, or the first that names the most columns."""
    if dialect.header_line != "auto":
        if dialect.header_line > len(lines):
            raise read_error("header.not_found", file, dialect.header_line,
                              expected=_expected(columns))
        return dialect.header_line - 1
    known = {normalise_header(n) for c in columns.values() for n in (c.header, *c.aliases)}

    def score(line: str) -> int:
        try:
            return len({normalise_header(f) for f in split_line(line, dialect)} & known)
        except csv.Error:  # e.g. a data line longer than the csv module takes: no header
            return 0

    scores = [score(line) for line in lines]
    best = max(scores, default=0)
    required = sum(not c.optional for c in columns.values())
    if best >= max(1, min(3, required // 2)):
        return scores.index(best)
    de, en = message("header.not_found", expected=_expected(columns))
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


def _expected(columns: Mapping[str, Column]) -> str:
    names = [c.header for c in columns.values() if not c.optional]
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "")


def resolve_columns(
    header: list[str], file: str, line: int, columns: Mapping[str, Column]
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
            de, en = message("header.duplicate_column", column=col.header)
            raise MappingError(en, Location(file, line, col.header),
                               rule="header.duplicate_column", message_de=de)
        if hits:
            positions[name] = hits[0]
        elif not col.optional:
            missing.append(col.header)
    if missing:
        cols = ", ".join(missing)
        de, en = message("header.missing_column", column=cols)
        raise MappingError(en, Location(file, line, cols), rule="header.missing_column",
                           message_de=de)
    return positions
