"""Store: the facts behind the metrics textfile, per source, read from the run records — so that
every process (cron, a timer, the daemon, an operator's import) writes the same figures."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from etl.store import schema
from etl.store.glance import IMPORTS, SUCCESSES, as_utc

FAILURES = ("rejected", "refused", "failed")


@dataclass
class SourceFacts:
    runs: dict[str, int] = field(default_factory=dict)  # runs per status
    events: Counter[str] = field(default_factory=Counter)  # events per type, all applied runs
    problems: Counter[str] = field(default_factory=Counter)  # problems per rule, all rejections
    warnings: Counter[str] = field(default_factory=Counter)  # imported as they are, per rule
    held: Counter[str] = field(default_factory=Counter)  # errors of rows held back, per rule
    rows: dict[str, int] = field(default_factory=dict)  # rows per entity, last accepted export
    last_run: datetime | None = None
    last_success: datetime | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)  # of the newest import run
    failures_in_a_row: int = 0  # newest import runs that failed, were rejected or refused


def source_facts(conn: Connection) -> dict[str, SourceFacts]:
    """Per source that has runs on record, what the metrics show."""
    r = schema.runs
    facts: dict[str, SourceFacts] = {}
    for source, status, n in conn.execute(
            select(r.c.source, r.c.status, func.count()).group_by(r.c.source, r.c.status)):
        facts.setdefault(source, SourceFacts()).runs[status] = int(n)
    rows = conn.execute(select(r.c.source, r.c.status, r.c.finished_at, r.c.summary,
                               r.c.findings, r.c.warnings, r.c.held, r.c.timings)
                        .where(r.c.status.in_(IMPORTS))
                        .order_by(r.c.source, r.c.started_at.desc())).all()
    newest_first: dict[str, list[str]] = {}
    for source, status, finished_at, summary, problems, warned, held, timings in rows:
        fact, finished = facts[source], as_utc(finished_at)
        if source not in newest_first:
            fact.last_run, fact.stage_seconds = finished, json.loads(timings or "{}")
        newest_first.setdefault(source, []).append(status)
        if status in SUCCESSES and fact.last_success is None:
            fact.last_success = finished
        fact.events.update(json.loads(summary or "{}") if status == "applied" else {})
        fact.problems.update(json.loads(problems or "{}") if status in FAILURES else {})
        fact.warnings.update(json.loads(warned or "{}") if status in SUCCESSES else {})
        fact.held.update(json.loads(held or "{}") if status in SUCCESSES else {})
    for source, statuses in newest_first.items():
        facts[source].failures_in_a_row = next(
            (i for i, s in enumerate(statuses) if s not in FAILURES), len(statuses))
    for source, counts in conn.execute(select(schema.snapshots.c.source,
                                              schema.snapshots.c.counts)):
        facts.setdefault(source, SourceFacts()).rows = json.loads(counts)
    return facts
