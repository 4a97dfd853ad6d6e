"""Pipeline, the check: read -> map -> validate one export (one file or one file set), every
problem a finding with its severity (an error blocks the export, a warning is imported as it
is), residents' personal values masked (no database)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from collections.abc import Mapping as Overrides
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from etl.core import findings, observe, rules
from etl.core.errors import Location, RejectedFile, SourceError
from etl.core.mapping_format import Mapping, expression_sources
from etl.core.model import ENTITIES, Entities, SourceTable
from etl.core.packed import Packed
from etl.core.settle import settled
from etl.core.severity import severities
from etl.core.trim import trim
from etl.pipeline.linekeys import Hashed, LineKeys
from etl.pipeline.roles import match_roles
from etl.pipeline.stamps import export_time
from etl.stages.map import map_entities
from etl.stages.read import body_digest, normalise_header, read_table
from etl.stages.read.delta import data_lines
from etl.stages.read.encoding import by_line
from etl.stages.validate import validate

REDACTED = "(ausgeblendet)"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of reading, mapping and validating one export (one file or one file set)."""

    mapping: str
    files: tuple[str, ...]
    entities: Entities | None
    findings: pd.DataFrame
    dialect: dict[str, dict] = field(default_factory=dict)  # per file role: form of the file
    export_time: datetime | None = None  # when the files say the ERP wrote them
    bodies: dict[str, str | None] = field(default_factory=dict)  # per role: read.body_digest
    # per role: its lines as the store keeps them, to come (`etl.pipeline.linekeys`); None: the
    # file's lines cannot be read one by one
    lines: dict[str, Future[Packed] | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the export may be imported: read and mapped, and no finding is an error."""
        return self.entities is not None and findings.errors(self.findings).empty

    @property
    def warnings(self) -> pd.DataFrame:
        """The findings imported as they are."""
        return findings.warnings(self.findings)


def group_exports(paths: list[Path], mapping: Mapping) -> list[list[Path]]:
    """Files of a one-file mapping are separate exports; a multi-file mapping takes them as one."""
    if not mapping.multi_file:
        return [[p] for p in paths]
    return [list(paths)]


def check_export(paths: list[Path], mapping: Mapping, labels: dict[Path, str] | None = None,
                 severity: Overrides[str, str] | None = None, clients: Collection[str] = (),
                 only: Collection[str] = (), keep_lines: bool = False) -> CheckResult:
    """Read, map and validate one export; every problem ends up in ``findings``, none is raised
    but SourceError when a file cannot be opened. ``labels`` name files in findings (default:
    their paths). ``severity``: the source's ``rules:``, over the mapping's and the catalogue's.
    ``clients``: the codes of the mapping's ``client_column`` the source imports (any other is
    ``client.foreign``); ``only``: the codes of the one client checked now (the rest of a
    source that feeds several is left out). ``keep_lines``: the data lines are hashed and the
    keys each gave packed (``CheckResult.lines``), for an import that stores them."""
    settled()  # the libraries are loaded (`etl.core.settle`)
    labels = labels or {}
    judge = severities(mapping.rules, severity or {})
    names = tuple(labels.get(p, str(p)) for p in paths)
    roles, problems = assign_roles(paths, mapping, labels)
    tables: dict[str, SourceTable] = {}
    bodies: dict[str, str | None] = {}
    lines: dict[str, Hashed | None] = {}
    observe.at("read")
    for role, path in roles.items():

        def raw(data: bytes, header_line: int, encoding: str, role: str = role) -> None:
            bodies[role] = body_digest(data, header_line, encoding)
            if keep_lines:
                lines[role] = Hashed.of(data_lines(data, header_line, mapping.dialect, encoding)
                                        if rows_on_their_own(mapping) and by_line(data, encoding)
                                        else None)

        try:  # the file's bytes are handed over: not held while they are parsed
            tables[role], found = read_table(_read_bytes(path), labels.get(path, str(path)),
                                             role, mapping.columns(role), mapping.dialect, raw)
        except RejectedFile as exc:
            problems.append(_from_error(exc, labels.get(path, str(path))))
            continue
        problems.append(found)  # (no name holds the table: the map lets go of its rows)
        trim()  # what reading the file freed
    if len(tables) < len(mapping.files):
        found = _redact(findings.concat(problems), mapping)
        return CheckResult(mapping.name, names, None, findings.judged(found, judge))
    dialect = {role: {"encoding": t.encoding, "delimiter": mapping.dialect.delimiter,
                      "header": list(t.header)} for role, t in tables.items()}
    stamp, found = export_time(mapping, tables)
    problems.append(found)
    if mapping.client_column and clients:
        kept, found = _client_rows(mapping.client_column, clients, only, tables)
        problems = [_on_rows(p, kept, tables) for p in problems] + [found]
        tables = kept
    observe.at("map")
    given = LineKeys(lines, mapping)  # takes the lines: only their packed keys are kept
    try:  # takes the tables: their text is let go
        entities, found = map_entities(mapping, tables, given.part)
    finally:
        packed = given.close()
    observe.at("validate")
    problems += [found, validate(entities)]
    return CheckResult(mapping.name, names, entities, conclude(problems, mapping, judge), dialect,
                       stamp, bodies, packed)


def conclude(problems: list[pd.DataFrame], mapping: Mapping, judge: dict[str, str]
             ) -> pd.DataFrame:
    """An export's findings as reported: one per cell and rule, a lossy key an error, residents'
    values masked, each with its severity."""
    result = _keys_lost(_without_echoes(findings.concat(problems)), mapping)
    return findings.judged(_redact(result, mapping), judge)


def rows_on_their_own(mapping: Mapping) -> bool:
    """Whether each row of the mapping's files reads the same whatever the others hold: no
    client codes filtered, no export time read from a column (its latest value is the file's)
    — the next export may then be read by its changed lines (`etl.pipeline.delta`)."""
    return not mapping.client_column and not any(
        spec.export_time and spec.export_time.column for spec in mapping.files.values())


def _client_rows(column: str, clients: Collection[str], only: Collection[str],
                 tables: dict[str, SourceTable]) -> tuple[dict[str, SourceTable], pd.DataFrame]:
    """A ``client.foreign`` finding per row of a code the source does not import (the row stays:
    held back — a mistyped code of one's own resident ends nothing — or the export rejected).
    With ``only``, the rows of the source's other clients are left out: their own import."""
    out, problems = dict(tables), []
    for role, table in tables.items():
        if column not in table.frame:
            continue
        codes = table.frame[column].fillna("").astype("str").str.strip()
        foreign = ~codes.isin(list(clients))
        if foreign.any():
            problems.append(findings.make(
                "client.foreign", file=table.file, line=table.frame.loc[foreign, "_line"],
                column=table.headers.get(column, column), value=codes[foreign],
                allowed=", ".join(clients)))
        sibling = ~foreign & ~codes.isin(list(only)) & bool(only)
        if sibling.any():
            out[role] = replace(table, frame=table.frame[~sibling].reset_index(drop=True))
    return out, findings.concat(problems)


def _on_rows(found: pd.DataFrame, kept: dict[str, SourceTable],
             tables: dict[str, SourceTable]) -> pd.DataFrame:
    """The findings without those of rows left out (another client's of the same source)."""
    for role, table in kept.items():
        if table is not tables[role]:
            lines = tables[role].frame["_line"]
            gone = lines[~lines.isin(table.frame["_line"])]
            found = found[~((found["file"] == table.file) & found["line"].isin(gone))]
    return found


def assign_roles(
    paths: list[Path], mapping: Mapping, labels: dict[Path, str]
) -> tuple[dict[str, Path], list[pd.DataFrame]]:
    roles, unassigned = match_roles(paths, mapping)
    expected = ", ".join(f"{r}: {s.pattern}" for r, s in mapping.files.items())
    problems = [findings.make("file.unassigned", file=labels.get(path, str(path)), line=None,
                              column=None, mapping=mapping.name, expected=expected)
                for path in unassigned]
    for role, spec in mapping.files.items():
        if role not in roles:
            shown = [labels.get(p, str(p)) for p in paths]
            folder = (os.path.commonpath(shown) or shown[0]) if shown else "."
            problems.append(findings.make("file.missing", file=folder,
                                          line=None, column=None, role=role,
                                          expected=spec.pattern))
    return roles, problems


def _from_error(exc: RejectedFile, file: str) -> pd.DataFrame:
    loc = exc.location or Location(file)
    frame = findings.make("file.empty", file=loc.file or file, line=loc.line, column=loc.column)
    frame["rule"] = exc.rule
    frame["message_de"] = exc.message_de
    frame["message_en"] = exc.message if not exc.hint else f"{exc.message} — {exc.hint}"
    return frame


def _without_echoes(found: pd.DataFrame) -> pd.DataFrame:
    """One finding per cell and rule; a value that could not be mapped (and so is empty now) is
    not reported a second time as a missing required value."""
    found = found.drop_duplicates(["file", "line", "column", "rule"])
    cell = ["file", "line", "column"]
    explained = found[found["rule"] != "required"][cell].drop_duplicates()
    echo = found[cell].merge(explained, how="left", indicator=True)["_merge"].eq("both")
    return findings.normalise(found[~(echo.to_numpy() & (found["rule"] == "required").to_numpy())])


def in_key_column(found: pd.DataFrame, mapping: Mapping) -> pd.Series:
    """Per finding: whether its column (or a part of one, ``WE + Haus``) feeds a key."""
    keys = _headers(mapping, lambda _entity, name: name.endswith("_id"))
    columns = found["column"].dropna().unique()
    hit = [c for c in columns if any(normalise_header(part) in keys
                                     for part in re.split(r" \+ | / ", str(c)))]
    return found["column"].isin(hit)


def _keys_lost(found: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """A character lost to the export's encoding in a key (``?``, U+FFFD) is ``key.lossy``, an
    error: the key could no longer be matched. In names and free text it stays
    ``encoding.lossy``."""
    lost = (found["rule"] == "encoding.lossy") & in_key_column(found, mapping)
    if lost.any():
        de, en = rules.message("key.lossy")
        found.loc[lost, ["rule", "message_de", "message_en"]] = ["key.lossy", de, en]
    return found


def _redact(found: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Residents' personal data never leaves in a report: mask the values of every column that
    feeds a personal field (by its header as the mapping names it, however the file wrote it)."""
    personal = _headers(mapping, lambda entity, name: ENTITIES[entity].field(name).personal)
    headers = found["column"].dropna().unique()  # each header once, not once per finding
    masked = found["column"].isin(
        [h for h in headers if isinstance(h, str) and normalise_header(h) in personal])
    found.loc[masked & found["value"].notna(), "value"] = REDACTED
    return found


def _headers(mapping: Mapping, wanted: Callable[[str, str], bool]) -> set[str]:
    """The (normalised) headers of every column that feeds a field ``wanted(entity, field)``,
    as the mapping names them, however the file wrote them."""
    out: set[str] = set()
    for name, spec in mapping.entities.items():
        for field_name, expr in spec.fields.items():
            if not wanted(name, field_name):
                continue
            for source in expression_sources(expr):
                for n in spec.repeat or (0,):
                    column = mapping.column_of(spec.from_, source.format(n=n))
                    if column is not None:
                        out |= {normalise_header(h) for h in (column.header, *column.aliases)}
    return out


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path} cannot be read: {exc}") from exc
