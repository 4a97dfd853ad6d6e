"""Pipeline: the one place that composes the stages and the store.

``check_export``: read -> map -> validate (no database). ``import_export``: check -> diff ->
moves -> guard -> load, in one transaction per export. The runner (drops) and the CLI call these.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl.core import faults, findings
from etl.core.changes import ChangeSet, DiffOptions, active_counts
from etl.core.clock import Clock, new_run_id, utc_now
from etl.core.config import SourceConfig
from etl.core.errors import Location, RejectedFile, SourceError
from etl.core.exports import ExportFile
from etl.core.mapping_format import Join, Mapping
from etl.core.model import ENTITIES, Entities, SourceTable
from etl.stages import diff, guard, moves
from etl.stages.map import map_entities
from etl.stages.read import normalise_header, read_table
from etl.stages.validate import validate
from etl.store import AlreadyApplied, Database, RunRecord

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
    if not mapping.multi_file:
        return [[p] for p in paths]
    return [list(paths)]


def check_export(paths: list[Path], mapping: Mapping,
                 labels: dict[Path, str] | None = None) -> CheckResult:
    """Read, map and validate one export; every problem ends up in ``findings``, none is raised
    except SourceError when a file cannot be opened. ``labels`` name files in findings (default:
    their paths), e.g. a downloaded file by its name in the drop."""
    labels = labels or {}
    names = tuple(labels.get(p, str(p)) for p in paths)
    roles, problems = _assign_roles(paths, mapping, labels)
    tables: dict[str, SourceTable] = {}
    for role, path in roles.items():
        try:
            table, found = read_table(
                _read_bytes(path), labels.get(path, str(path)), role, mapping.columns(role),
                mapping.dialect
            )
        except RejectedFile as exc:
            problems.append(_from_error(exc, labels.get(path, str(path))))
            continue
        tables[role] = table
        problems.append(found)
    if len(tables) < len(mapping.files):
        return CheckResult(mapping.name, names, None, _redact(findings.concat(problems), mapping))
    entities, found = map_entities(mapping, tables)
    tables.clear()  # the source text is not needed any more: free it before validating
    problems += [found, validate(entities)]
    result = _without_echoes(findings.concat(problems))
    return CheckResult(mapping.name, names, entities, _redact(result, mapping))


def _assign_roles(
    paths: list[Path], mapping: Mapping, labels: dict[Path, str]
) -> tuple[dict[str, Path], list[pd.DataFrame]]:
    roles: dict[str, Path] = {}
    problems: list[pd.DataFrame] = []
    for path in paths:
        match = [
            role
            for role, spec in mapping.files.items()
            if not mapping.multi_file
            or fnmatch.fnmatch(path.name.casefold(), spec.pattern.casefold())
        ]
        if len(match) == 1 and match[0] not in roles:
            roles[match[0]] = path
        else:
            expected = ", ".join(f"{r}: {s.pattern}" for r, s in mapping.files.items())
            problems.append(findings.make("file.unassigned", file=labels.get(path, str(path)),
                                          line=None, column=None, mapping=mapping.name,
                                          expected=expected))
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


def _redact(found: pd.DataFrame, mapping: Mapping) -> pd.DataFrame:
    """Residents' personal data never leaves in a report: mask the values of every column that
    feeds a personal field (by its header as the mapping names it, however the file wrote it)."""
    personal: set[str] = set()
    for name, spec in mapping.entities.items():
        for field_name, expr in spec.fields.items():
            if not ENTITIES[name].field(field_name).personal:
                continue
            sources = expr.join if isinstance(expr, Join) else (expr,) if isinstance(
                expr, str) else ()
            for source in sources:
                for n in spec.repeat or (0,):
                    column = mapping.column_of(spec.from_, source.format(n=n))
                    if column is not None:
                        personal |= {normalise_header(h) for h in (column.header,
                                                                    *column.aliases)}
    masked = found["column"].map(lambda c: isinstance(c, str) and normalise_header(c)
                                 in personal).astype(bool)
    found.loc[masked & found["value"].notna(), "value"] = REDACTED
    return found


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path} cannot be read: {exc}") from exc


def _describe(file: Path | ExportFile) -> ExportFile:
    if isinstance(file, ExportFile):
        return file
    try:
        return ExportFile.of(file)
    except OSError as exc:
        raise SourceError(f"{file} cannot be read: {exc}") from exc


@dataclass(frozen=True)
class ImportResult:
    """What happened to one export: ``status`` is applied, unchanged, duplicate, rejected,
    refused or planned (a dry run)."""

    run_id: str
    source: str
    status: str
    files: tuple[str, ...]
    changes: ChangeSet | None = None
    verdict: guard.Verdict | None = None
    findings: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.status in {"applied", "unchanged", "duplicate", "planned"}


class _Rollback(Exception):
    """Leaves the transaction without writing (dry run, guard refusal)."""


def import_export(
    files: Sequence[Path | ExportFile],
    name: str,
    source: SourceConfig,
    mapping: Mapping,
    database: Database,
    *,
    clock: Clock = utc_now,
    dry_run: bool = False,
    override_reason: str | None = None,
) -> ImportResult:
    """Check, diff, guard and load one export of source ``name`` in one transaction.

    ``files``: the export's files — paths on this machine, or files a drop already fetched and
    hashed. Returns the outcome; a rejected or refused export leaves the database unchanged.
    Raises LoadError when the database fails, SourceError when a file cannot be read.
    """
    started = clock()
    run_id = new_run_id(started)
    described = [_describe(f) for f in files]
    names = tuple(f.name for f in described)
    done = database.applied_hashes(name, [f.sha256 for f in described])
    if done and done >= {f.sha256 for f in described}:
        return ImportResult(run_id, name, "duplicate", names)
    checked = check_export([f.path for f in described], mapping,
                           {f.path: f.name for f in described})
    if not checked.ok or checked.entities is None:
        return ImportResult(run_id, name, "rejected", names, findings=checked.findings)
    faults.point("after_validation")
    export_time = max(f.export_time for f in described)
    options = DiffOptions(source.move_window_days, mapping.stable_person_keys)
    limits = guard.GuardLimits(source.guard.max_ended_share, source.guard.max_shrink)
    prepared = diff.prepare(checked.entities)
    content = diff.digest(prepared)
    changes, verdict = ChangeSet.nothing({}), guard.Verdict()
    try:
        with database.transaction(source.client) as tx:
            last = tx.last_snapshot(name)
            after = None
            if last and last.digest == content and last.client == source.client and not dry_run:
                # the same content as the last accepted export: nothing to compare or write
                changes = ChangeSet.nothing(last.counts)
            else:
                fields = moves.state_fields(options)
                state = tx.read_state(source.client, fields)
                comparison = diff.compare(state, prepared)
                stored = tx.read_rows(source.client, comparison.needed())
                changes = diff.changes(comparison, stored)
                changes = moves.add_resident_events(changes, comparison, options)
                verdict = guard.check(changes, active_counts(state), export_time,
                                      last.export_time if last else None, limits,
                                      override_reason)
            if not verdict.ok or dry_run:
                raise _Rollback
            status = "applied" if changes.rows_to_write or len(changes.events) else "unchanged"
            if changes.rows_to_write:
                after = diff.next_state(comparison, fields)
            run = RunRecord(run_id, name, source.client, started, export_time, verdict.label,
                            verdict.override_reason)
            tx.apply(changes, run, described, clock(), status, content, after)
            faults.point("load_before_commit")
    except _Rollback:
        status = "planned" if verdict.ok else "refused"
    except AlreadyApplied:
        return ImportResult(run_id, name, "duplicate", names)
    return ImportResult(run_id, name, status, names, changes=changes, verdict=verdict)
