"""Pipeline, the same export again (`etl.pipeline.unchanged`), recognised and recorded without
pandas, pyarrow or pandera: the export's files hashed, its data lines' digest compared with the
last accepted export's, the run recorded as unchanged — an import that changes nothing costs
little more than reading the file once. `etl.pipeline.imports` tries this first; the CLI tries it
before it imports the rest of the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from etl.core import faults, observe
from etl.core.clock import Clock, new_run_id, utc_now
from etl.core.config import SourceConfig
from etl.core.errors import SourceError
from etl.core.exports import ExportFile
from etl.core.mapping_format import Mapping
from etl.pipeline import unchanged
from etl.pipeline.result import ImportResult, stopwatch
from etl.pipeline.roles import match_roles
from etl.stages.guard import Verdict
from etl.store import AlreadyApplied, Database, RunRecord

if TYPE_CHECKING:
    from etl.core.changes import ChangeSet


def describe(file: Path | ExportFile) -> ExportFile:
    """A file of the export with its hash, its bytes kept for the check for the same lines
    (`unchanged.read`: the file is read once); raises SourceError when it cannot be read."""
    if isinstance(file, ExportFile):
        return file
    try:
        data = file.read_bytes()
        return unchanged.keep(ExportFile.of(file, data=data), data)
    except OSError as exc:
        raise SourceError(f"{file} cannot be read: {exc}") from exc


def import_again(files: Sequence[Path | ExportFile], name: str, source: SourceConfig,
                 mapping: Mapping, database: Database, clock: Clock = utc_now
                 ) -> ImportResult | None:
    """The export recorded as unchanged when it is the last accepted one's lines again; None
    when it is not, or when this cannot tell (a source of several clients, files applied
    before): `etl.pipeline.import_export` decides then."""
    if len(source.targets()) > 1:
        return None
    described = [describe(f) for f in files]
    started = clock()
    run = RunRecord(new_run_id(started), name, source.client, started,
                    max(f.export_time for f in described), None, None)
    done = database.applied_hashes(name, [f.sha256 for f in described])
    if done >= {f.sha256 for f in described}:  # every file applied before: recorded as such
        names = tuple(f.name for f in described)
        database.record(run, clock(), "duplicate", files=described, findings={}, timings={})
        return ImportResult(run.run_id, name, "duplicate", names)
    if done:
        return None  # a file of a multi-file export seen before: the pipeline decides
    reads = unchanged.fingerprint(mapping, source.rules, source.clients, ())
    timings: dict[str, float] = {}
    with observe.bound(source=name, run_id=run.run_id, export=", ".join(f.name for f in files),
                       stage="read"):
        try:
            return recognised(described, mapping, database, reads, run, clock, timings)
        except AlreadyApplied:  # by another run meanwhile: the pipeline records the duplicate
            return None


def recognised(described: list[ExportFile], mapping: Mapping, database: Database, reads: str,
               run: RunRecord, clock: Clock, timings: dict[str, float],
               lap: Callable[[str], None] | None = None,
               nothing: Callable[[dict[str, int]], ChangeSet] | None = None
               ) -> ImportResult | None:
    """The last accepted export's data lines again: recorded as unchanged with nothing read but
    the bytes; None when it is not. ``lap``: the caller's stopwatch (else one of its own);
    ``nothing``: the empty change set of the stored counts (`ChangeSet.nothing`: pandas), for a
    caller whose reports show them. Raises AlreadyApplied when another run applied the files
    meanwhile."""
    lap = lap or stopwatch(timings)
    roles, unassigned = match_roles([f.path for f in described], mapping)
    if unassigned or set(roles) != set(mapping.files):
        return None
    of = {f.path: f for f in described}
    with database.transaction(run.client) as tx:
        last = tx.last_snapshot(run.ledger_key)
        seen = None if last is None or last.client != run.client else unchanged.probe(
            {role: of[path] for role, path in roles.items()}, mapping, reads, last.dialect,
            last.raw_digest)
        if last is None or seen is None:
            return None
        lap("again")  # the stage that recognised the export
        verdict = Verdict()
        run = replace(run, export_time=seen.export_time or run.export_time, guard=verdict.label)
        tx.record_again(run, described, clock(), last, seen.raw_digest, timings)
        faults.point("load_before_commit")
    lap("load")
    database.amend_run(run.run_id, timings=timings)
    return ImportResult(run.run_id, run.source, "unchanged", tuple(f.name for f in described),
                        changes=nothing(last.counts) if nothing else None, verdict=verdict,
                        timings=timings)
