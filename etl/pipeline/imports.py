"""Pipeline, the import: check -> diff -> moves -> guard -> load, in one transaction per export;
every outcome on record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from etl.core import faults, findings, observe
from etl.core.changes import ChangeSet, DiffOptions, active_counts
from etl.core.clock import Clock, new_run_id, utc_now
from etl.core.config import SourceConfig
from etl.core.errors import PlanOutdated, SourceError
from etl.core.exports import ExportFile
from etl.core.mapping_format import Mapping
from etl.pipeline.check import CheckResult, check_export, in_key_column
from etl.pipeline.plans import Expected
from etl.stages import diff, guard, hold, moves
from etl.store import AlreadyApplied, Database, RunRecord


def _describe(file: Path | ExportFile) -> ExportFile:
    if isinstance(file, ExportFile):
        return file
    try:
        return ExportFile.of(file)
    except OSError as exc:
        raise SourceError(f"{file} cannot be read: {exc}") from exc

log = logging.getLogger(__name__)


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
    findings: pd.DataFrame | None = None  # a rejected export's problems; else its warnings
    # and the errors of its held rows
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    expected: Expected | None = None  # of a dry run: what applying it as a plan must find
    warnings: tuple[str, ...] = ()  # e.g. the export's form changed (not refused)

    @property
    def ok(self) -> bool:
        return self.status in {"applied", "unchanged", "duplicate", "planned"}


def record(database: Database, result: ImportResult, client: str, started: datetime,
           clock: Clock = utc_now, *, files: Sequence[ExportFile] = (),
           export_time: datetime | None = None, message: str | None = None) -> None:
    """Put an outcome that wrote nothing else on record (duplicate, rejected, refused, failed):
    its files, its findings per rule or the guard's refusals, its timings — the portal's
    tables stay as they were."""
    verdict = result.verdict
    found = result.findings if result.findings is not None else findings.empty()
    problems = findings.per_rule(findings.errors(found))
    if verdict is not None and verdict.problems:
        problems.update({p.rule: 1 for p in verdict.problems})
    run = RunRecord(result.run_id, result.source, client, started, export_time,
                    verdict.label if verdict is not None else None,
                    verdict.override_reason if verdict is not None else None,
                    findings.per_rule(findings.warnings(found)))
    database.record(run, clock(), result.status, files=list(files),
                    names=None if files else list(result.files), findings=problems,
                    timings=result.timings, message=message)


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
    expect: Expected | None = None,
) -> ImportResult:
    """Check, diff, guard and load one export of source ``name`` in one transaction.

    ``files``: the export's files — paths on this machine, or files a drop already fetched and
    hashed. Returns the outcome; a rejected or refused export leaves the database unchanged.
    ``expect``: a saved plan's state and change set, which this apply must find (else
    PlanOutdated). Raises LoadError when the database fails, SourceError when a file cannot be
    read.

    A source that feeds several portal clients (``clients: {"100": wg-nord, "200": wg-sued}``)
    imports the export once per client — each its rows, snapshot, guard, events and run — and
    returns the most serious outcome with all findings and changes.
    """
    targets = source.targets()
    if expect is not None and len(targets) > 1:
        raise SourceError(f"source {name} feeds several clients: a saved plan holds one client's "
                          "changes; import the export with `etl import` or `etl run`")
    export = ", ".join(f.name for f in files)
    results = []
    for client, codes in targets:
        started = clock()
        run_id = new_run_id(started)
        ledger = f"{name}:{client}" if len(targets) > 1 else None
        with observe.bound(source=name, run_id=run_id, export=export, stage="read"):
            results.append(_import(files, name, source.model_copy(update={"client": client}),
                                   mapping, database, clock, dry_run, override_reason, started,
                                   run_id, expect, codes, ledger))
    return _combined(results)


# the outcome of an export that several clients imported: the most serious of theirs
_SERIOUS = ("failed", "rejected", "refused", "applied", "planned", "unchanged", "duplicate")


def _combined(results: list[ImportResult]) -> ImportResult:
    if len(results) == 1:
        return results[0]
    main = min(results, key=lambda r: _SERIOUS.index(r.status))
    found = [r.findings for r in results if r.findings is not None]
    sets = [r.changes for r in results if r.changes is not None]
    every = findings.concat(found).drop_duplicates(["file", "line", "column", "rule"])
    return replace(main, findings=every if found else None, expected=None,
                   changes=ChangeSet.merged(sets) if sets else None,
                   warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)))


def _import(
    files: Sequence[Path | ExportFile], name: str, source: SourceConfig, mapping: Mapping,
    database: Database, clock: Clock, dry_run: bool, override_reason: str | None,
    started: datetime, run_id: str, expect: Expected | None, codes: tuple[str, ...] = (),
    ledger: str | None = None,
) -> ImportResult:
    described = [_describe(f) for f in files]
    names = tuple(f.name for f in described)
    export_time = max(f.export_time for f in described)
    timings: dict[str, float] = {}
    lap = _stopwatch(timings)

    def recorded(result: ImportResult) -> ImportResult:
        if not dry_run:
            record(database, result, source.client, started, clock, files=described,
                   export_time=export_time)
        return result

    key = ledger or name  # whose ledger and snapshot: the source's, or one client's of it
    done = database.applied_hashes(key, [f.sha256 for f in described])
    if done and done >= {f.sha256 for f in described}:
        return recorded(ImportResult(run_id, name, "duplicate", names))
    checked = check_export([f.path for f in described], mapping,
                           {f.path: f.name for f in described}, source.rules, source.clients,
                           codes)
    lap("check")
    export_time = checked.export_time or export_time  # the files' own word first
    held, beyond = (None, None) if checked.ok else holding(checked, source, mapping)
    if checked.entities is None or not (checked.ok or held):
        return recorded(ImportResult(run_id, name, "rejected", names, timings=timings,
                                     findings=findings.concat([beyond, checked.findings])
                                     if beyond is not None else checked.findings))
    found = checked.findings if held is None else hold.as_held(checked.findings, held)
    faults.point("after_validation")
    options = DiffOptions(source.move_window_days, mapping.stable_person_keys)
    limits = guard.GuardLimits(source.guard.max_ended_share, source.guard.max_shrink)
    observe.at("diff")
    prepared = diff.prepare(checked.entities)
    content = diff.digest(prepared)
    changes, verdict = ChangeSet.nothing({}), guard.Verdict()
    try:
        with database.transaction(source.client) as tx:
            last = tx.last_snapshot(key)
            token = tx.state_token(source.client, key)
            if expect is not None and expect.state != token:
                raise PlanOutdated("the database changed since the plan was made (another "
                                   "import, purge or erasure of the client): make a new plan")
            after = None
            if last and last.digest == content and last.client == source.client and not dry_run:
                # the same content as the last accepted export: nothing to compare or write
                changes = ChangeSet.nothing(last.counts)
            else:
                fields = moves.state_fields(options)
                state = tx.read_state(source.client, fields)
                if held is not None:  # held keys: their last accepted state
                    prepared = hold.keep_last_state(prepared, held, state, tx.read_rows(
                        source.client, {n: k for n, k in held.keys.items() if len(k)}))
                comparison = diff.compare(state, prepared)
                stored = tx.read_rows(source.client, comparison.needed())
                comparison = diff.keep_stored_where_lost(comparison, stored)
                changes = diff.changes(comparison, stored)
                changes = moves.add_resident_events(changes, comparison, options)
                lap("diff")
                observe.at("guard")
                verdict = guard.check(changes, active_counts(state), export_time,
                                      last.export_time if last else None, limits,
                                      override_reason)
                lap("guard")
            verdict, warnings = _judge_form(verdict, guard.dialect_drift(
                last.dialect if last else None, checked.dialect), source, override_reason)
            for warning in warnings:
                log.warning("source %s: %s", name, warning)
            if expect is not None and changes.fingerprint() != expect.changes:
                raise PlanOutdated("the export now computes to other changes than the plan "
                                   "(the mapping or a rule changed?): make a new plan")
            if not verdict.ok or dry_run:
                raise _Rollback
            observe.at("load")
            status = "applied" if changes.rows_to_write or len(changes.events) else "unchanged"
            if changes.rows_to_write:
                after = diff.next_state(comparison, fields)
            run = RunRecord(run_id, name, source.client, started, export_time, verdict.label,
                            verdict.override_reason, findings.per_rule(checked.warnings),
                            findings.per_rule(findings.held(found)), ledger)
            tx.apply(changes, run, described, clock(), status, content, after, timings)
            tx.remember_dialect(key, checked.dialect)
            faults.point("load_before_commit")
    except _Rollback:
        status = "planned" if verdict.ok else "refused"
    except AlreadyApplied:
        return recorded(ImportResult(run_id, name, "duplicate", names))
    lap("load")
    result = ImportResult(run_id, name, status, names, changes=changes, verdict=verdict,
                          findings=_reported(found),
                          timings=timings, warnings=warnings,
                          expected=Expected(token, changes.fingerprint()) if dry_run else None)
    if status in {"applied", "unchanged"}:
        database.amend_run(run_id, timings=timings)  # the load's own time, now it is known
    return recorded(result) if status == "refused" else result


def holding(checked: CheckResult, source: SourceConfig, mapping: Mapping
            ) -> tuple[hold.Holding | None, pd.DataFrame | None]:
    """The rows to hold back when the source holds damaged rows (``invalid_rows: hold``) and
    every error allows it; else None, the export is rejected — with a finding of its own when
    it holds more than the source's limits allow."""
    if source.invalid_rows != "hold" or checked.entities is None:
        return None, None
    errors = findings.errors(checked.findings)
    if not hold.holdable(errors, in_key_column(errors, mapping)).all():
        return None, None
    held = hold.hold(checked.entities, errors)
    allowed = hold.allowed(checked.entities, source.max_held_rows, source.max_held_share)
    if held.lines <= allowed:
        return held, None
    return None, findings.make("rows.too_many_damaged", file=checked.files[0], line=None,
                               column=None, lines=held.lines, allowed=allowed)


def _reported(found: pd.DataFrame) -> pd.DataFrame | None:
    """What an imported export's report lists: its warnings and the errors of held rows."""
    shown = found[found["severity"] != "error"]
    return shown if len(shown) else None


def _judge_form(verdict: guard.Verdict, drift: list[guard.Refusal], source: SourceConfig,
                override_reason: str | None) -> tuple[guard.Verdict, tuple[str, ...]]:
    """A change of the export's form against the last accepted one: changed columns are refused
    (``guard.dialect_change: refuse``, the default) like the guard's other refusals; another
    encoding, or columns with ``warn``, are warnings."""
    refuse = [d for d in drift
              if d.rule == "dialect.columns" and source.guard.dialect_change == "refuse"]
    warnings = tuple(d.english for d in drift if d not in refuse)
    if refuse:
        verdict = guard.Verdict([*verdict.problems, *refuse], override_reason)
    return verdict, warnings


def _stopwatch(timings: dict[str, float]) -> Callable[[str], None]:
    """``lap(stage)`` records the seconds since the last lap under ``stage``."""
    last = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - last[0], 3)
        last[0] = now

    return lap
