"""Pipeline: the one place that composes the stages (read -> map -> validate for now)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl import findings
from etl.config import Mapping
from etl.errors import Location, RejectedFile
from etl.mapping import map_entities
from etl.models import ENTITIES, Entities, SourceTable
from etl.read import read_table
from etl.validate import validate

REDACTED = "(ausgeblendet)"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of reading, mapping and validating one export (one file or one file set)."""

    mapping: str
    files: tuple[str, ...]
    entities: Entities | None
    findings: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.entities is not None and self.findings.empty


def group_exports(paths: list[Path], mapping: Mapping) -> list[list[Path]]:
    """Files of a one-file mapping are separate exports; a multi-file mapping takes them as one."""
    if len(mapping.files) == 1:
        return [[p] for p in paths]
    return [list(paths)]


def check_export(paths: list[Path], mapping: Mapping) -> CheckResult:
    """Read, map and validate one export; every problem ends up in ``findings``, none is raised
    except OSError when a file cannot be opened."""
    names = tuple(str(p) for p in paths)
    roles, problems = _assign_roles(paths, mapping)
    tables: dict[str, SourceTable] = {}
    for role, path in roles.items():
        try:
            table, found = read_table(
                path.read_bytes(), str(path), role, mapping.columns(role), mapping.dialect
            )
        except RejectedFile as exc:
            problems.append(_from_error(exc, str(path)))
            continue
        tables[role] = table
        problems.append(found)
    if len(tables) < len(mapping.files):
        return CheckResult(mapping.name, names, None, findings.concat(problems))
    entities, found = map_entities(mapping, tables)
    tables.clear()  # the source text is not needed any more: free it before validating
    problems += [found, validate(entities)]
    result = _without_echoes(findings.concat(problems))
    return CheckResult(mapping.name, names, entities, _redact(result, entities))


def _assign_roles(
    paths: list[Path], mapping: Mapping
) -> tuple[dict[str, Path], list[pd.DataFrame]]:
    roles: dict[str, Path] = {}
    problems: list[pd.DataFrame] = []
    single = len(mapping.files) == 1
    for path in paths:
        match = [
            role
            for role, spec in mapping.files.items()
            if single or fnmatch.fnmatch(path.name.casefold(), spec.pattern.casefold())
        ]
        if len(match) == 1 and match[0] not in roles:
            roles[match[0]] = path
        else:
            expected = ", ".join(f"{r}: {s.pattern}" for r, s in mapping.files.items())
            problems.append(findings.make("file.unassigned", file=str(path), line=None,
                                          column=None, mapping=mapping.name, expected=expected))
    for role, spec in mapping.files.items():
        if role not in roles:
            folder = str(Path(os.path.commonpath(paths))) if paths else "."
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


def _redact(found: pd.DataFrame, entities: Entities) -> pd.DataFrame:
    """Residents' personal data never leaves in a report: mask values of personal columns."""
    personal = {
        header
        for (entity, field, _), header in entities.lineage.columns.items()
        if ENTITIES[entity].field(field).personal
    }
    found.loc[found["column"].isin(personal) & found["value"].notna(), "value"] = REDACTED
    return found
