"""Store: one run per source at a time, and one transaction per source at a time.

A cron run and the daemon, or two hosts, never import the same source at once. PostgreSQL: a
session-level advisory lock (released by the server when the holder dies); SQLite: a lock file
in ``<work_dir>/locks`` (released by the OS when the holder dies). Both are tried without
waiting: a busy source is skipped, the next pass takes it. Inside a pass, each export's
transaction also takes the source's transaction-scoped advisory lock (PostgreSQL), so that the
writes of several hosts queue up.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from etl.core.errors import ConfigError

log = logging.getLogger(__name__)

# The two-key form of the session lock: its key space never meets the one-key form of the
# transaction lock.
LOCK_NAMESPACE = 0x45544C  # "ETL"


def advisory_key(source: str) -> int:
    """The source's advisory lock key (a CRC-32 of its name)."""
    return zlib.crc32(source.encode())


def lock_transaction(conn: Connection, source: str) -> None:
    """Wait for the source's transaction-scoped lock (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(source)})


# The outbox lock: one transaction at a time appends change events and commits, so that the ids
# of committed events only ever grow (PostgreSQL hands out ids at insert, not at commit: without
# it, a consumer reading "after id N" could pass an id a slower transaction commits later).
OUTBOX_NAMESPACE, OUTBOX_KEY = 0x4F5554, 0  # "OUT"


def lock_outbox(conn: Connection) -> None:
    """Wait for the outbox lock until the transaction ends (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"),
                     {"ns": OUTBOX_NAMESPACE, "k": OUTBOX_KEY})


def _int4(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


@contextmanager
def source_lock(engine: Engine, work_dir: Path, source: str) -> Iterator[bool]:
    """Yields True while this process holds the source's lock, False when another one does.

    Raises SQLAlchemy's errors when the database cannot be reached (translated by the caller,
    `Database`), ConfigError when the lock file cannot be created in the work folder.
    """
    if engine.dialect.name == "postgresql":
        params = {"ns": LOCK_NAMESPACE, "key": _int4(advisory_key(source))}
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                     params).scalar())
        except BaseException:
            conn.close()
            raise
        try:
            yield held
        finally:
            _unlock(conn, params, held, source)
        return
    path = work_dir / "locks" / f"{source}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=0)
        lock.acquire()
    except Timeout:
        yield False
        return
    except OSError as exc:
        raise ConfigError(f"work folder {work_dir}: cannot create the lock of source {source}: "
                          f"{exc}") from exc
    try:
        yield True
    finally:
        lock.release()


def _unlock(conn: Connection, params: dict[str, int], held: bool, source: str) -> None:
    """Release the session lock; a connection lost meanwhile took the lock with it."""
    try:
        if held:
            conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)
    except SQLAlchemyError as exc:
        log.warning("source %s: the lock's connection was lost (%s); the server released the "
                    "lock with it", source, type(getattr(exc, "orig", exc)).__name__)
    finally:
        with contextlib.suppress(SQLAlchemyError):
            conn.close()
