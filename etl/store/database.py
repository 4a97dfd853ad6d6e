"""Store: the portal database's one face, `Database` — engine, migrations, transactions, locks,
the ledger and the operators' queries — and the one seam where the database's own errors become
the project's.

SQLAlchemy's, psycopg's, sqlite3's and Alembic's errors never leave this room: a database that
fails (refuses connections, loses one, runs out of disk, refuses a write) is a LoadError (exit 6:
rolled back, run again); a URL or schema that cannot be used is a ConfigError (exit 3). Their
texts carry the driver's primary message only — never a statement's parameters or a failing row,
which may hold residents' data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError

from etl.core import lazy
from etl.core.database_config import DatabaseConfig
from etl.core.errors import ConfigError, ErasureRefused, LoadError, LoadRefused
from etl.core.exports import ExportFile
from etl.core.retention import PurgeCounts
from etl.store import glance, ledger, locks, metrics, migrate, schema
from etl.store.errors import (
    DATABASE_ERRORS,
    REFUSALS,
    AlreadyApplied,
    database_url,
    describe,
    translated,
)
from etl.store.ledger import RunRecord, Snapshot
from etl.store.metrics import SourceFacts

if TYPE_CHECKING:
    import pandas as pd

    from etl.core.changes import ChangeSet
    from etl.store import lines, queries, retention, state, writes
else:  # with pandas, when first used: the same export again is recorded without them
    lines, queries, retention, state, writes = (
        lazy.Module(f"etl.store.{name}") for name in ("lines", "queries", "retention", "state",
                                                      "writes"))


@dataclass(frozen=True)
class Transaction:
    """One export's transaction: what the pipeline reads and writes inside it."""

    conn: Connection

    def last_snapshot(self, source: str) -> Snapshot | None:
        return ledger.last_snapshot(self.conn, source)

    def read_state(self, client: str, fields: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
        return state.read_state(self.conn, client, fields)

    def read_rows(self, client: str, keys: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return state.read_rows(self.conn, client, keys)

    def remember_dialect(self, source: str, dialect: dict[str, dict]) -> None:
        ledger.remember_dialect(self.conn, source, dialect)

    def lines(self, source: str, client: str, reads: str) -> tuple[dict, str] | None:
        return lines.load_lines(self.conn, source, client, reads)

    def state_digest(self, client: str) -> str:
        return state.state_digest(self.conn, client)

    def keep_lines(self, source: str, client: str, run_id: str, reads: str,
                   tables: dict | None) -> None:
        lines.save_lines(self.conn, source, client, run_id, reads, tables)

    def state_token(self, client: str, source: str) -> str:
        return state.state_token(self.conn, client, source)

    def apply(self, changes: ChangeSet, run: RunRecord, files: list[ExportFile], now: datetime,
              status: str, digest: str, new_state: dict[str, pd.DataFrame] | None,
              timings: dict[str, float] | None = None, raw_digest: str | None = None) -> None:
        writes.apply(self.conn, changes, run, files, now, status, digest, new_state, timings,
                     raw_digest)


    def record_again(self, run: RunRecord, files: list[ExportFile], now: datetime,
                     last: Snapshot, raw_digest: str, timings: dict[str, float]) -> None:
        ledger.record_again(self.conn, run, files, now, last, raw_digest, timings)


class Database:
    """The portal database (SQLite file or PostgreSQL server)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def connect(cls, url: str, parallel: int = 2) -> Database:
        """A database by URL (connections are opened when needed); SQLite gets WAL and a busy
        timeout. ``parallel``: sources imported at once — each may hold a connection for its
        lock and one for its transaction. Raises ConfigError for a URL that names no usable
        database."""
        try:
            pool = {"pool_size": max(5, 2 * parallel + 1), "max_overflow": 10}
            engine = create_engine(url, **(pool if not url.startswith("sqlite") else {}))
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(f"the database URL cannot be used: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine)

    @classmethod
    def from_config(cls, cfg: DatabaseConfig, environ: Mapping[str, str],
                    parallel: int = 2) -> Database:
        return cls.connect(database_url(cfg, environ), parallel)

    @property
    def one_writer(self) -> bool:
        """SQLite takes one writer at a time: imports in one process queue up."""
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> str | None:
        """Create or upgrade the portal schema to ``revision``; returns the revision now."""
        with translated("migrating the schema"):
            migrate.upgrade(self.engine, revision)
        return self.revision()

    @property
    def label(self) -> str:
        """The database's URL without its password, for people."""
        return self.engine.url.render_as_string(hide_password=True)

    def revision(self) -> str | None:
        """The schema's current migration (None: an empty database)."""
        with translated("reading the schema revision"), self.engine.connect() as conn:
            return migrate.current_revision(conn)

    def check_schema(self) -> None:
        """Raise ConfigError unless the schema is at the newest migration."""
        glance.check_revision(self.revision())

    # -- imports ------------------------------------------------------------------------------

    def applied_hashes(self, source: str, hashes: list[str]) -> set[str]:
        """Which of these file hashes were already applied to the source."""
        with translated("reading the file ledger"), self.engine.connect() as conn:
            return ledger.applied_hashes(conn, source, hashes)

    @contextmanager
    def transaction(self, client: str) -> Iterator[Transaction]:
        """One transaction on ``client``'s rows (on PostgreSQL holding the client's transaction
        lock, so that imports and purges of one client on several hosts queue up).

        Raises AlreadyApplied when the file ledger refuses the file, LoadError for any other
        database failure; either way everything is rolled back.
        """
        try:
            with self.engine.begin() as conn:
                locks.lock_transaction(conn, client)
                yield Transaction(conn)
        except REFUSALS as exc:
            if isinstance(exc, IntegrityError) and "etl_applied" in f"{exc.orig} {exc.statement}":
                raise AlreadyApplied(client) from exc
            raise LoadRefused(f"the database refused the import: {describe(exc)}",
                              hint="rolled back; nothing was changed") from exc
        except DATABASE_ERRORS as exc:
            raise LoadError(f"database failure, rolled back: {describe(exc)}",
                            hint="nothing was changed; run again") from exc

    @contextmanager
    def source_lock(self, source: str, work_dir: Path) -> Iterator[bool]:
        """True while this process holds the source's lock, False when another one does."""
        with ExitStack() as stack:
            with translated(f"taking the lock of source {source}"):
                held = stack.enter_context(locks.source_lock(self.engine, work_dir, source))
            yield held

    def record(self, run: RunRecord, now: datetime, status: str, *,
               files: list[ExportFile] | None = None, names: list[str] | None = None,
               findings: dict[str, int] | None = None, timings: dict[str, float] | None = None,
               message: str | None = None) -> None:
        """Record a run that wrote nothing else (duplicate, rejected, refused, failed), in a
        transaction of its own: the portal's tables are not touched."""
        with translated(f"recording run {run.run_id}"), self.engine.begin() as conn:
            ledger.record_run(conn, run, files or [], now, status, None, message, names=names,
                              findings=findings, timings=timings)

    def amend_run(self, run_id: str, *, report: str | None = None,
                  timings: dict[str, float] | None = None) -> None:
        """Add what is known once a run is over: where its report was written, the time its
        load took (recorded after the commit)."""
        with translated(f"completing the record of run {run_id}"), self.engine.begin() as conn:
            ledger.amend_run(conn, run_id, report, timings)

    # -- retention ----------------------------------------------------------------------------

    def purge(self, run: RunRecord, now: datetime, *, persons_before: datetime | None,
              events_before: datetime | None, files: PurgeCounts,
              dry_run: bool = False) -> PurgeCounts:
        """Erase the personal fields of ``run.client``'s persons ended at or before
        ``persons_before`` and delete its change events written at or before ``events_before``
        (None: keep) in one transaction; when anything went — ``files`` counts what went of
        the drop — the purge is recorded as a run. ``dry_run``: count only."""
        with self.transaction(run.client) as tx:
            persons = (retention.ended_persons(tx.conn, run.client, persons_before)
                       if persons_before else [])
            events = 0
            if events_before:
                count = retention.old_events if dry_run else retention.delete_events
                events = count(tx.conn, run.client, events_before)
            counts = replace(files, persons_erased=len(persons), events_deleted=events)
            if dry_run or not counts.anything:
                return counts
            retention.erase_persons(tx.conn, persons, run, now)
            ledger.record_run(tx.conn, run, [], now, "purged", counts.as_dict(), None)
        self._let_go_of_erased_pages()
        return counts

    def erase_person(self, person: str, run: RunRecord, now: datetime) -> bool:
        """Erase one ended person's personal fields now, recorded as a run; False when they
        were erased before. Raises ErasureRefused for an active person (the ERP is the master)
        or an unknown one."""
        with self.transaction(run.client) as tx:
            status = retention.person_status(tx.conn, run.client, person)
            if status is None:
                raise ErasureRefused(f"client {run.client!r} has no person {person!r}")
            if status == "active":
                raise ErasureRefused(
                    f"person {person} of client {run.client} is in the last accepted export: "
                    "the ERP is the master, and its next export would bring the data back",
                    hint="erase (or end) the person in the ERP first; once an export no longer "
                    "holds them, `etl erase` — or the retention — erases them here")
            if status == "erased":
                return False
            retention.erase_persons(tx.conn, [person], run, now)
            ledger.record_run(tx.conn, run, [], now, "erased", {"persons_erased": 1}, None)
        self._let_go_of_erased_pages()
        return True

    def _let_go_of_erased_pages(self) -> None:
        """SQLite zeroes what is deleted (secure_delete); the write-ahead log still holds the
        old pages until it is checkpointed and truncated."""
        if self.engine.dialect.name == "sqlite":
            with translated("checkpointing the write-ahead log"), self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- operators' queries -------------------------------------------------------------------

    def recent_runs(self, source: str | None, limit: int) -> pd.DataFrame:
        """The newest runs, newest first."""
        with translated("reading runs"), self.engine.connect() as conn:
            return queries.recent_runs(conn, source, limit)

    def last_runs(self, source: str) -> tuple[dict | None, dict | None]:
        """The source's newest import run and newest successful one."""
        r = schema.runs  # the columns' types: SQLite keeps times as text
        with translated("reading runs"), self.engine.connect() as conn:
            newest, success = (conn.execute(text(query).columns(
                r.c.run_id, r.c.status, r.c.finished_at, r.c.export_time), {"source": source})
                .mappings().first() for query in (glance.NEWEST_RUN, glance.NEWEST_SUCCESS))
        return tuple(None if row is None else {  # type: ignore[return-value]
            **row, **{key: glance.as_utc(row[key]) for key in ("finished_at", "export_time")}}
            for row in (newest, success))

    def run(self, run_id: str) -> dict[str, object] | None:
        """One run in full, with its files; None when there is no such run."""
        with translated("reading a run"), self.engine.connect() as conn:
            return queries.run(conn, run_id)

    def metric_facts(self) -> dict[str, SourceFacts]:
        """Per source, the figures of the metrics textfile (from the run records)."""
        with translated("reading the run records for metrics"), self.engine.connect() as conn:
            return metrics.source_facts(conn)

    def recent_events(self, client: str | None, run_id: str | None, event_type: str | None,
                      limit: int, after: int | None = None) -> pd.DataFrame:
        """Change events, filtered, in the order they were written: the newest, or those after
        the event id ``after``."""
        with translated("reading change events"), self.engine.connect() as conn:
            return queries.recent_events(conn, client, run_id, event_type, limit, after)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA secure_delete=ON")  # what is deleted or overwritten is zeroed on disk
    cur.close()
