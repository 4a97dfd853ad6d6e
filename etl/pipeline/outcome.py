"""Pipeline, the outcome of an import (``ImportResult`` of `etl.pipeline.result`): put on record
when nothing else was written, combined over the clients of one drop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import pandas as pd

from etl.core import findings
from etl.core.changes import ChangeSet
from etl.core.clock import Clock, utc_now
from etl.core.exports import ExportFile
from etl.pipeline.result import ImportResult
from etl.store import Database, RunRecord


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
