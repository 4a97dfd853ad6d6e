"""Pipeline: the one place that composes the stages.

check_export: read -> map -> validate.  import_export: check -> diff -> guard -> load, one
transaction per export; the CLI (and later the scheduler) are thin shells over these.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from etl import findings, guard, load
from etl.config import Mapping, SourceConfig
from etl.diff import DiffOptions, compare, digest, next_state, prepare, state_fields
from etl.diff import changes as diff_changes
from etl.errors import Location, RejectedFile
from etl.mapping import map_entities
from etl.models import ENTITIES, ChangeSet, Entities, SourceTable
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


def check_export(paths: list[Path], mapping: Mapping,
                 labels: dict[Path, str] | None = None) -> CheckResult:
    """Read, map and validate one export; every problem ends up in ``findings``, none is raised
    except OSError when a file cannot be opened. ``labels`` name files in findings (default:
    their paths), e.g. a downloaded file by its name in the drop."""
    labels = labels or {}
    names = tuple(labels.get(p, str(p)) for p in paths)
    roles, problems = _assign_roles(paths, mapping, labels)
    tables: dict[str, SourceTable] = {}
    for role, path in roles.items():
        try:
            table, found = read_table(
                path.read_bytes(), labels.get(path, str(path)), role, mapping.columns(role),
                mapping.dialect
            )
        except RejectedFile as exc:
            problems.append(_from_error(exc, labels.get(path, str(path))))
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
    paths: list[Path], mapping: Mapping, labels: dict[Path, str]
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


def _redact(found: pd.DataFrame, entities: Entities) -> pd.DataFrame:
    """Residents' personal data never leaves in a report: mask values of personal columns."""
    personal = {
        header
        for (entity, field, _), header in entities.lineage.columns.items()
        if ENTITIES[entity].field(field).personal
    }
    found.loc[found["column"].isin(personal) & found["value"].notna(), "value"] = REDACTED
    return found


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """UTC time plus a short random suffix: sortable, unique across hosts."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


_STAMP = re.compile(
    r"(?P<y>(?:19|20)\d{2})-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)"
    r"(?:[T_ -]?(?P<H>[0-2]\d)[:-]?(?P<M>[0-5]\d)(?:[:-]?(?P<S>[0-5]\d))?)?"
)


def export_time(name: str, mtime: float) -> datetime:
    """When the ERP wrote the export: a date (and time) in the file name, else the mtime."""
    match = _STAMP.search(name)
    if match:
        parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
        try:
            return datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"],
                            parts["S"], tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(mtime, UTC)


def file_record(path: Path, label: str | None = None) -> load.FileRecord:
    """The ledger's record of a file; ``label`` is its name where it came from (e.g. the inbox
    name of a downloaded file), default its path."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    info = path.stat()
    return load.FileRecord(label or str(path), digest.hexdigest(), info.st_size,
                           export_time(path.name, info.st_mtime))


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
    paths: list[Path],
    name: str,
    source: SourceConfig,
    mapping: Mapping,
    engine: Engine,
    *,
    clock: Clock = utc_now,
    dry_run: bool = False,
    override_reason: str | None = None,
    labels: dict[Path, str] | None = None,
) -> ImportResult:
    """Check, diff, guard and load one export of source ``name`` in one transaction.

    Returns the outcome; a rejected or refused export leaves the database unchanged. Raises
    LoadError (retryable) when the database fails, OSError when a file cannot be read.
    """
    started = clock()
    run_id = new_run_id(started)
    labels = labels or {}
    files = [file_record(p, labels.get(p)) for p in paths]
    names = tuple(f.name for f in files)
    with engine.connect() as conn:
        done = load.applied_hashes(conn, name, [f.sha256 for f in files])
    if done and done >= {f.sha256 for f in files}:
        return ImportResult(run_id, name, "duplicate", names)
    checked = check_export(paths, mapping, labels)
    if not checked.ok or checked.entities is None:
        return ImportResult(run_id, name, "rejected", names, findings=checked.findings)
    export_time = max((f.export_time for f in files if f.export_time), default=None)
    options = DiffOptions(source.move_window_days, mapping.stable_person_keys)
    limits = guard.GuardLimits(source.guard.max_ended_share, source.guard.max_shrink)
    prepared = prepare(checked.entities)
    content = digest(prepared)
    outcome: dict[str, object] = {}
    try:
        with load.transaction(engine, name) as conn:
            last = load.last_snapshot(conn, name)
            after = None
            if last and last.digest == content and last.client == source.client and not dry_run:
                # the same content as the last accepted export: nothing to compare or write
                changes, verdict = ChangeSet.nothing(last.counts), guard.Verdict()
            else:
                fields = state_fields(options)
                state = load.read_state(conn, source.client, fields)
                comparison = compare(state, prepared)
                stored = load.read_rows(conn, source.client, comparison.needed())
                changes = diff_changes(comparison, stored, options)
                verdict = guard.check(changes, load.active_counts(state), export_time,
                                      last.export_time if last else None, limits,
                                      override_reason)
            outcome.update(changes=changes, verdict=verdict)
            if not verdict.ok or dry_run:
                raise _Rollback
            status = "applied" if changes.rows_to_write or len(changes.events) else "unchanged"
            if changes.rows_to_write:
                after = next_state(comparison, fields)
            run = load.RunRecord(run_id, name, source.client, started, export_time,
                                 verdict.label, verdict.override_reason)
            load.apply(conn, changes, run, files, clock(), status, content, after)
    except _Rollback:
        status = "planned" if verdict.ok else "refused"
    except load.AlreadyApplied:
        return ImportResult(run_id, name, "duplicate", names)
    return ImportResult(run_id, name, status, names, changes=outcome["changes"],  # type: ignore[arg-type]
                        verdict=outcome["verdict"])  # type: ignore[arg-type]
