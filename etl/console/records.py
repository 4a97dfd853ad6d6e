"""Shell: output for scripts (`--json`) — one JSON object per line, the same facts the tables
show, with times as ISO 8601 in the configured zone (to the second) and missing values as null.
Residents' data appears only where the human output shows it too (a finding's value, for ERP
staff); change events and runs carry keys and counts only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # pandas is imported where it is used: `etl status` starts without it
    import pandas as pd

    from etl.pipeline import CheckResult, ImportResult
    from etl.runner import SourcePass
    from etl.runner.doctor import Check
    from etl.runner.status import SourceStatus


def line(record: dict[str, Any]) -> str:
    """One JSON line (UTF-8 as is)."""
    return json.dumps(record, ensure_ascii=False)


def moment(value: object, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the configured zone, to the second; None when missing (naive = UTC)."""
    if not isinstance(value, datetime) or value != value:  # noqa: PLR0124 (pd.NaT)
        return None
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    return stamp.astimezone(zone).isoformat(timespec="seconds")


def _plain(value: object, zone: ZoneInfo) -> object:
    """A cell as JSON has it: times as ``moment``, missing as None, numpy numbers as Python's."""
    import pandas as pd

    if isinstance(value, datetime):
        return moment(value, zone)
    if isinstance(value, (dict, list)):
        return value
    if pd.isna(value):  # type: ignore[call-overload]
        return None
    return value.item() if hasattr(value, "item") else value


def status(st: SourceStatus, zone: ZoneInfo) -> dict[str, Any]:
    return {"source": st.source, "ok": st.ok, "last_run": st.last_run,
            "last_run_at": moment(st.last_run_at, zone),
            "last_success_at": moment(st.last_success_at, zone),
            "last_export": moment(st.last_export, zone), "waiting": st.waiting,
            "in_error": st.in_error, "next_run": moment(st.next_run, zone),
            "overdue": st.overdue, "failing": st.failing, "drop_problem": st.drop_problem}


def runs(frame: pd.DataFrame, zone: ZoneInfo) -> Iterator[dict[str, Any]]:
    """The run history: events per type (``summary``) and problems per rule (``findings``) as
    objects."""
    for row in frame.to_dict("records"):
        yield {k: _plain(v, zone) for k, v in row.items()}


def run(record: dict[str, object], zone: ZoneInfo) -> dict[str, Any]:
    """One run in full."""
    return {k: _plain(v, zone) for k, v in record.items()}


def events(frame: pd.DataFrame, zone: ZoneInfo) -> Iterator[dict[str, Any]]:
    for row in frame.to_dict("records"):
        yield {k: _plain(v, zone) for k, v in row.items()}


def _findings(found: pd.DataFrame | None) -> dict[str, Any]:
    """Errors and warnings counted (``warning_findings``: ``warnings`` of an import are its
    messages, e.g. dialect drift), per rule, and every finding with its severity."""
    from etl.core import findings

    if found is None:
        return {"errors": 0, "warning_findings": 0, "held_findings": 0, "by_rule": {},
                "findings": []}
    rows = found[["file", "line", "column", "value", "rule", "severity", "message_en"]]
    return {"errors": len(findings.errors(found)),
            "warning_findings": len(findings.warnings(found)),
            "held_findings": len(findings.held(found)),
            "by_rule": findings.per_rule(found),
            "findings": [{k: _plain(v, UTC) for k, v in r.items()}  # type: ignore[arg-type]
                         for r in rows.to_dict("records")]}


def check(result: CheckResult, report: object = None) -> dict[str, Any]:
    """A validated export: rows per entity, every finding (for ERP staff, values included)."""
    return {"files": list(result.files), "mapping": result.mapping, "ok": result.ok,
            "rows": result.entities.counts() if result.entities else None,
            **_findings(result.findings), "report": None if report is None else str(report)}


def imported(result: ImportResult) -> dict[str, Any]:
    """An import or plan: status, guard, rows written and ended, events per type, problems."""
    verdict = result.verdict
    return {"run_id": result.run_id, "source": result.source, "status": result.status,
            "files": list(result.files),
            "guard": verdict.label if verdict else None,
            "guard_problems": [p.english for p in verdict.problems] if verdict else [],
            "written": result.written(), "ended": result.ended(), "events": result.events(),
            **_findings(result.findings), "timings": result.timings,
            "warnings": list(result.warnings)}


def source_pass(done: SourcePass) -> dict[str, Any]:
    """One source's pass over its drop: each export's outcome, what waits, what was skipped."""
    return {"source": done.source, "exit_code": done.exit_code, "busy": done.busy,
            "exports": [{"key": o.key, "status": o.status, "run_id": o.run_id,
                         "settled_in": o.settled_in,
                         "error": None if o.error is None else str(o.error)}
                        for o in done.outcomes],
            "waiting": done.waiting, "skipped": done.skipped,
            "purged": done.purged.as_dict() if done.purged is not None else None,
            "error": None if done.error is None else str(done.error)}


def check_line(check: Check) -> dict[str, Any]:
    """One check of `etl doctor`."""
    return {"check": check.name, "ok": check.ok, "detail": check.detail,
            "fix": check.fix or None, "exit_code": check.exit_code}
