"""Pipeline, the outcome of an import: what happened to one export (``ImportResult``), put on
record when nothing else was written, combined over the clients of one drop, timed per stage."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from etl.core import findings
from etl.core.changes import ChangeSet
from etl.core.clock import Clock, utc_now
from etl.core.exports import ExportFile
from etl.pipeline.plans import Expected
from etl.stages import guard
from etl.store import Database, RunRecord


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


# the outcome of an export that several clients imported: the most serious of theirs
_SERIOUS = ("failed", "rejected", "refused", "applied", "planned", "unchanged", "duplicate")


def combined(results: list[ImportResult]) -> ImportResult:
    if len(results) == 1:
        return results[0]
    main = min(results, key=lambda r: _SERIOUS.index(r.status))
    found = [r.findings for r in results if r.findings is not None]
    sets = [r.changes for r in results if r.changes is not None]
    every = findings.concat(found).drop_duplicates(["file", "line", "column", "rule"])
    return replace(main, findings=every if found else None, expected=None,
                   changes=ChangeSet.merged(sets) if sets else None,
                   warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)))


def reported(found: pd.DataFrame) -> pd.DataFrame | None:
    """What an imported export's report lists: its warnings and the errors of held rows."""
    shown = found[found["severity"] != "error"]
    return shown if len(shown) else None


def stopwatch(timings: dict[str, float]) -> Callable[[str], None]:
    """``lap(stage)`` records the seconds since the last lap under ``stage``."""
    last = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - last[0], 3)
        last[0] = now

    return lap
