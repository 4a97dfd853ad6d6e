"""One run per source at a time: a cron run and the daemon, or two hosts, never import the same
source at once. PostgreSQL: a session-level advisory lock (released by the server when the
holder dies); SQLite: a lock file in ``<work_dir>/locks`` (released by the OS when the holder
dies). Both are tried without waiting: a busy source is skipped, the next pass takes it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from etl.errors import LoadError

# The two-key form of advisory locks: its key space never meets the one-key form that
# load.transaction() takes per export.
LOCK_NAMESPACE = 0x45544C  # "ETL"


def _int4(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


@contextmanager
def source_lock(engine: Engine, work_dir: Path, source: str) -> Iterator[bool]:
    """Yields True while this process holds the source's lock, False when another one does."""
    if engine.dialect.name == "postgresql":
        params = {"ns": LOCK_NAMESPACE, "key": _int4(zlib.crc32(source.encode()))}
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                     params).scalar())
        except SQLAlchemyError as exc:
            raise LoadError(f"database unreachable for the lock of {source}: {exc}") from exc
        try:
            yield held
        finally:
            try:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)
            finally:
                conn.close()
        return
    path = work_dir / "locks" / f"{source}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
