"""Store: the ledger — runs, the files they took (by content hash: a file is applied to a source
at most once), and each source's last accepted export (its snapshot)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from etl.core.exports import ExportFile, printable
from etl.store import schema
from etl.store.errors import AlreadyApplied
from etl.store.glance import as_utc


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    source: str
    client: str
    started_at: datetime
    export_time: datetime | None
    guard: str | None  # passed, refused, overridden; None: no export was judged
    override_reason: str | None
    warnings: dict[str, int] | None = None  # problems imported as they are, per rule
    held: dict[str, int] | None = None  # errors whose rows were held back, per rule
    ledger: str | None = None  # the ledger's and snapshot's key, when not the source's name

    @property
    def ledger_key(self) -> str:
        """Whose exactly-once ledger and snapshot this run writes: the source's, or one client's
        of a source that feeds several (``source:client``)."""
        return self.ledger or self.source


@dataclass(frozen=True)
class Snapshot:
    """The source's last accepted export."""

    client: str
    export_time: datetime | None
    counts: dict[str, int]
    digest: str
    dialect: dict[str, dict] | None = None  # per file role: encoding, delimiter, header
    raw_digest: str | None = None  # its data lines as read (pipeline.unchanged)


def last_snapshot(conn: Connection, source: str) -> Snapshot | None:
    """The source's last accepted export; None before the first."""
    s = schema.snapshots
    row = conn.execute(select(s.c.client, s.c.export_time, s.c.counts, s.c.digest, s.c.dialect,
                              s.c.raw_digest).where(s.c.source == source)).first()
    if row is None:
        return None
    return Snapshot(row.client, as_utc(row.export_time), json.loads(row.counts), row.digest,
                    json.loads(row.dialect) if row.dialect else None, row.raw_digest)


def remember_dialect(conn: Connection, source: str, dialect: dict[str, dict]) -> None:
    """The form of the export just accepted (its snapshot is written in the same
    transaction)."""
    s = schema.snapshots
    conn.execute(update(s).where(s.c.source == source).values(dialect=json.dumps(dialect)))


def applied_hashes(conn: Connection, source: str, hashes: list[str]) -> set[str]:
    """Which of these file hashes were already applied to the source."""
    a = schema.applied
    rows = conn.execute(select(a.c.sha256).where(a.c.source == source, a.c.sha256.in_(hashes)))
    return set(rows.scalars())


def enter_files(conn: Connection, run: RunRecord, files: list[ExportFile], now: datetime) -> None:
    """The export's files into the ledger of applied files. A multi-file export may repeat a
    file applied before (a month with the same buildings): only the new ones are entered.
    Raises AlreadyApplied when another run applied every file since this one began."""
    hashes = {f.sha256 for f in files}
    new = hashes - applied_hashes(conn, run.ledger_key, sorted(hashes))
    if hashes and not new:
        raise AlreadyApplied(run.client)
    if new:
        conn.execute(insert(schema.applied), [
            {"source": run.ledger_key, "sha256": sha, "run_id": run.run_id, "applied_at": now}
            for sha in sorted(new)])


def record_again(conn: Connection, run: RunRecord, files: list[ExportFile], now: datetime,
                 last: Snapshot, raw_digest: str, timings: dict[str, float]) -> None:
    """An export that is the last accepted one again: its files entered, its run recorded as
    unchanged, the snapshot (the same content and counts) now this run's."""
    enter_files(conn, run, files, now)
    record_run(conn, run, files, now, "unchanged", {}, None, timings=timings)
    save_snapshot(conn, run, now, last.counts, last.digest, raw_digest)


def record_run(
    conn: Connection,
    run: RunRecord,
    files: list[ExportFile],
    now: datetime,
    status: str,
    summary: dict[str, int] | None,
    message: str | None,
    *,
    names: list[str] | None = None,
    findings: dict[str, int] | None = None,
    timings: dict[str, float] | None = None,
) -> None:
    """The run and its files in the ledger; ``names``: the files' names when they were never
    read (no hash to record)."""
    shown = [printable(n) for n in (names if names is not None else [f.name for f in files])]
    conn.execute(insert(schema.runs).values(
        run_id=run.run_id, source=run.source, client=run.client, started_at=run.started_at,
        finished_at=now, status=status, files=json.dumps(shown),
        export_time=run.export_time, guard=run.guard, override_reason=run.override_reason,
        summary=json.dumps(summary or {}), message=printable(message) if message else None,
        findings=json.dumps(findings) if findings else None,
        warnings=json.dumps(run.warnings) if run.warnings else None,
        held=json.dumps(run.held) if run.held else None,
        timings=json.dumps(timings) if timings else None,
    ))
    if files:
        conn.execute(insert(schema.files), [
            {"run_id": run.run_id, "name": f.name, "source": run.source, "sha256": f.sha256,
             "size": f.size, "export_time": f.export_time, "outcome": status}
            for f in files
        ])


def amend_run(conn: Connection, run_id: str, report: str | None,
              timings: dict[str, float] | None) -> None:
    values: dict[str, str] = {}
    if report is not None:
        values["report"] = report
    if timings:
        values["timings"] = json.dumps(timings)
    if values:
        conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id).values(**values))


def save_snapshot(conn: Connection, run: RunRecord, now: datetime, counts: dict[str, int],
                  digest: str, raw_digest: str | None = None) -> None:
    """The source's last accepted export is now this one."""
    snapshot = {
        "source": run.ledger_key, "client": run.client, "run_id": run.run_id,
        "export_time": run.export_time, "applied_at": now, "counts": json.dumps(counts),
        "digest": digest, "raw_digest": raw_digest,
    }
    stmt = _dialect_insert(conn, schema.snapshots).values(**snapshot)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["source"], set_={k: v for k, v in snapshot.items() if k != "source"}))


def _dialect_insert(conn: Connection, table: Table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
