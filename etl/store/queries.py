"""Store: read queries for operators — the newest runs and change events."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, select

from etl.store import schema


def recent_runs(conn: Connection, source: str | None, limit: int) -> pd.DataFrame:
    """The newest runs, newest first; ``summary`` (events per type), ``findings`` (errors per
    rule), ``warnings`` (problems imported as they are) and ``held`` (errors whose rows were held
    back), per rule, as dicts."""
    r = schema.runs
    stmt = select(r.c.run_id, r.c.source, r.c.status, r.c.guard, r.c.export_time,
                  r.c.finished_at, r.c.summary, r.c.findings, r.c.warnings, r.c.held,
                  r.c.override_reason)
    if source:
        stmt = stmt.where(r.c.source == source)
    rows = conn.execute(stmt.order_by(r.c.started_at.desc()).limit(limit)).all()
    frame = pd.DataFrame(rows, columns=["run_id", "source", "status", "guard", "export_time",
                                        "finished_at", "summary", "findings", "warnings",
                                        "held", "override_reason"])
    for key in ("summary", "findings", "warnings", "held"):
        frame[key] = [json.loads(text) if isinstance(text, str) and text else {}
                      for text in frame[key]]  # an all-empty column comes back as NaN
    return frame


def recent_events(
    conn: Connection, client: str | None, run_id: str | None, event: str | None, limit: int,
    after: int | None = None,
) -> pd.DataFrame:
    """Change events, filtered, in the order they were written: the newest ``limit``, or with
    ``after`` (a consumer's cursor) the oldest ``limit`` whose id is greater."""
    e = schema.events
    stmt = select(e.c.id, e.c.run_id, e.c.client, e.c.entity, e.c.entity_key, e.c.event,
                  e.c.fields, e.c.from_unit, e.c.to_unit, e.c.from_tenancy, e.c.to_tenancy,
                  e.c.related_key, e.c.created_at)
    for column, value in ((e.c.client, client), (e.c.run_id, run_id), (e.c.event, event)):
        if value:
            stmt = stmt.where(column == value)
    columns = [c.name for c in stmt.selected_columns]
    if after is not None:
        rows = conn.execute(stmt.where(e.c.id > after).order_by(e.c.id).limit(limit)).all()
        return pd.DataFrame(rows, columns=columns)
    rows = conn.execute(stmt.order_by(e.c.id.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=columns).iloc[::-1]


def run(conn: Connection, run_id: str) -> dict[str, object] | None:
    """Every column of one run, with its files (name, SHA-256, size)."""
    row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).mappings().first()
    if row is None:
        return None
    f = schema.files
    files = conn.execute(select(f.c.name, f.c.sha256, f.c.size).where(f.c.run_id == run_id)
                         .order_by(f.c.name)).all()
    out: dict[str, object] = dict(row)
    for key in ("summary", "findings", "warnings", "held", "timings"):
        out[key] = json.loads(row[key]) if row[key] else {}
    out["files"] = [{"name": n, "sha256": h, "size": z} for n, h, z in files] or [
        {"name": n} for n in json.loads(row["files"])]
    return out
