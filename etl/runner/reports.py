"""Runner: what ERP staff are told about a run, built from its result — the rejection (CSV and
text in error/) of an export that was not taken, and the run's page beside every export."""

from __future__ import annotations

from etl.core import findings
from etl.drops import pickup
from etl.drops.page import RunPage
from etl.drops.report import Rejection
from etl.pipeline import ImportResult
from etl.runner.results import TAKEN


def rejection(source: str, client: str, pending: pickup.Pending,
              result: ImportResult) -> Rejection | None:
    """What ERP staff are told about an export that was not taken; None when it was."""
    if result.status in TAKEN:
        return None
    refusals: tuple[tuple[str, str], ...] = ()
    if result.status == "refused" and result.verdict is not None:
        refusals = tuple((p.german, p.english) for p in result.verdict.problems)
    found = result.findings if result.findings is not None else findings.empty()
    return Rejection(source, client, pending.key, result.files, result.run_id, found, refusals)


def run_page(source: str, client: str, pending: pickup.Pending,
             result: ImportResult) -> RunPage:
    """The run as its page shows it (etl.drops.page)."""
    changes, verdict = result.changes, result.verdict
    return RunPage(
        source, client, pending.key, result.files, result.run_id, result.status,
        verdict.label if verdict else None, verdict.override_reason if verdict else None,
        tuple(p.german for p in verdict.problems) if verdict and not verdict.ok else (),
        changes.counts if changes else {}, changes.written() if changes else {},
        changes.ended_counts() if changes else {},
        changes.events if changes is not None else None, result.findings, result.timings)
