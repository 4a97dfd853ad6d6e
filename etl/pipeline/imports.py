"""Pipeline, the import: check -> diff -> moves -> guard -> load, in one transaction per export;
every outcome on record."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from etl.core.settle import settled
from etl.core.trim import trim
from etl.pipeline import again, delta, unchanged
from etl.pipeline.check import CheckResult, check_export, in_key_column
from etl.pipeline.outcome import combined, record, reported
from etl.pipeline.plans import Expected
from etl.pipeline.result import ImportResult, stopwatch
from etl.stages import diff, guard, hold, moves
from etl.store import AlreadyApplied, Database, RunRecord

log = logging.getLogger(__name__)


class _Rollback(Exception):
    """Leaves the transaction without writing (dry run, guard refusal)."""


class _Whole(Exception):
    """Leaves the transaction without writing: the changed lines alone cannot tell, the whole
    export is read (`etl.pipeline.delta`)."""


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
    settled()  # the libraries are loaded (`etl.core.settle`)
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
        args = (files, name, source.model_copy(update={"client": client}), mapping, database,
                clock, dry_run, override_reason, started, run_id, expect, codes, ledger)
        with observe.bound(source=name, run_id=run_id, export=export, stage="read"):
            try:
                results.append(_import(*args))
            except _Whole:
                results.append(_import(*args, by_line=False))
            finally:
                unchanged.forget()  # a file's bytes, kept by the check for the same lines
    return combined(results)


def _import(
    files: Sequence[Path | ExportFile], name: str, source: SourceConfig, mapping: Mapping,
    database: Database, clock: Clock, dry_run: bool, override_reason: str | None,
    started: datetime, run_id: str, expect: Expected | None, codes: tuple[str, ...] = (),
    ledger: str | None = None, by_line: bool = True,
) -> ImportResult:
    described = [again.describe(f) for f in files]
    names = tuple(f.name for f in described)
    export_time = max(f.export_time for f in described)
    timings: dict[str, float] = {}
    lap = stopwatch(timings)

    def recorded(result: ImportResult) -> ImportResult:
        if not dry_run:
            record(database, result, source.client, started, clock, files=described,
                   export_time=export_time)
        return result

    key = ledger or name  # whose ledger and snapshot: the source's, or one client's of it
    done = database.applied_hashes(key, [f.sha256 for f in described])
    if done and done >= {f.sha256 for f in described}:
        return recorded(ImportResult(run_id, name, "duplicate", names))
    reads = unchanged.fingerprint(mapping, source.rules, source.clients, codes)
    try:
        seen = None if dry_run or expect is not None else again.recognised(
            described, mapping, database, reads,
            RunRecord(run_id, name, source.client, started, export_time, None, None, ledger=ledger),
            clock, timings, lap, ChangeSet.nothing)
    except AlreadyApplied:
        return recorded(ImportResult(run_id, name, "duplicate", names))
    if seen is not None:
        return seen
    changed = _changed(described, mapping, database, reads, source, key) if (
        by_line and not dry_run and expect is None and not codes) else None
    unchanged.forget()  # the files' bytes: the whole read reads them itself
    checked = changed.checked if changed else check_export(
        [f.path for f in described], mapping, {f.path: f.name for f in described}, source.rules,
        source.clients, codes, keep_lines=not dry_run)
    lap("check" if changed is None else "lines")  # lines: only the changed lines were read
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
    if changed is None:  # the rows as mapped, provenance and all: not held while they are
        checked.entities.frames.clear()  # written (800k multi-file first import: ~25 MB)
    content = diff.digest(prepared) if changed is None else ""
    fields = moves.state_fields(options)
    changes, verdict, state, joined = ChangeSet.nothing({}), guard.Verdict(), None, None
    try:
        with database.transaction(source.client) as tx:
            last = tx.last_snapshot(key)
            token = tx.state_token(source.client, key)
            if changed is not None:  # the rest of the export: the rows of its unchanged lines
                state = tx.read_state(source.client, fields)
                joined = (delta.whole(changed, state, prepared)
                          if tx.state_digest(source.client) == changed.token else None)
                if joined is None:
                    raise _Whole
                prepared, content = joined.prepared, diff.digest(joined.prepared)
            if expect is not None and expect.state != token:
                raise PlanOutdated("the database changed since the plan was made (another "
                                   "import, purge or erasure of the client): make a new plan")
            after = None
            if last and last.digest == content and last.client == source.client and not dry_run:
                # the same content as the last accepted export: nothing to compare or write
                changes = ChangeSet.nothing(last.counts)
            else:
                state = state if state is not None else tx.read_state(source.client, fields)
                if held is not None:  # held keys: their last accepted state
                    prepared = hold.keep_last_state(prepared, held, state, tx.read_rows(
                        source.client, {n: k for n, k in held.keys.items() if len(k)}))
                comparison = joined if joined is not None else diff.compare(state, prepared)
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
            comparison = joined = None  # not held while the rows are written (800k: ~50 MB)
            trim()  # nor what the comparison freed
            run = RunRecord(run_id, name, source.client, started, export_time, verdict.label,
                            verdict.override_reason, findings.per_rule(checked.warnings),
                            findings.per_rule(findings.held(found)), ledger)
            tx.apply(changes, run, described, clock(), status, content, after, timings,
                     unchanged.raw_digest(reads, checked.bodies) if found.empty else None)
            tx.remember_dialect(key, checked.dialect)
            tx.keep_lines(key, source.client, run_id, reads, changed.lines if changed else
                          delta.packed_lines(checked) if found.empty else None)
            faults.point("load_before_commit")
    except _Rollback:
        status = "planned" if verdict.ok else "refused"
    except AlreadyApplied:
        return recorded(ImportResult(run_id, name, "duplicate", names))
    lap("load")
    result = ImportResult(run_id, name, status, names, changes=changes, verdict=verdict,
                          findings=reported(found),
                          timings=timings, warnings=warnings,
                          expected=Expected(token, changes.fingerprint()) if dry_run else None)
    if status in {"applied", "unchanged"}:
        database.amend_run(run_id, timings=timings)  # the load's own time, now it is known
    return recorded(result) if status == "refused" else result


def _changed(described: list[ExportFile], mapping: Mapping, database: Database, reads: str,
             source: SourceConfig, key: str) -> delta.Delta | None:
    """The export's changed lines checked, when the last accepted export's lines are stored
    (`etl.pipeline.delta`); None: read the whole export."""
    with database.transaction(source.client) as tx:
        last = tx.last_snapshot(key)
        stored = (tx.lines(key, source.client, reads)
                  if last is not None and last.client == source.client else None)
    if last is None or stored is None:
        return None
    return delta.check_changed(described, mapping, *stored, last.dialect or {}, source.rules)


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
