"""Store, at a glance: what can be read without SQLAlchemy, whose import alone takes longer than
`etl status` may take to start (0.3 s; a monitoring check calls it every minute) — the newest
migration this version brings, and a source's newest runs in an SQLite file, read with the
standard library's sqlite3, read-only (a missing file is reported, never created). `Database`
runs the same queries on any other database, so both read alike."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from etl.core.database_config import DatabaseConfig
from etl.core.errors import ConfigError, LoadError

MIGRATIONS = Path(__file__).with_name("migrations")
CURRENT_REVISION = "SELECT version_num FROM alembic_version"
IMPORTS = ("applied", "unchanged", "duplicate", "rejected", "refused", "failed")
SUCCESSES = ("applied", "unchanged", "duplicate")


def _newest_run(statuses: tuple[str, ...]) -> str:
    """The newest run of the source ``:source`` with one of ``statuses`` (our own words)."""
    return ("SELECT run_id, status, finished_at, export_time FROM etl_run "
            f"WHERE source = :source AND status IN ({', '.join(repr(s) for s in statuses)}) "
            "ORDER BY started_at DESC LIMIT 1")


NEWEST_RUN, NEWEST_SUCCESS = _newest_run(IMPORTS), _newest_run(SUCCESSES)


def head_revision() -> str:
    """The newest migration this version brings: the one no other revises."""
    revises: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = re.search(r'^revision = "([^"]+)"', source, re.MULTILINE)
        down = re.search(r'^down_revision = "([^"]+)"', source, re.MULTILINE)
        if revision:
            revises[revision[1]] = down[1] if down else None
    heads = set(revises) - set(revises.values())
    if len(heads) != 1:
        raise ConfigError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def check_revision(current: str | None) -> None:
    """Raise ConfigError unless a schema at ``current`` is at the newest migration."""
    head = head_revision()
    if current != head:
        raise ConfigError(f"database schema is at {current or 'nothing'}, this version needs "
                          f"{head}: run `etl db upgrade`")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back timestamps without zone; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def describe(exc: BaseException) -> str:
    """The database's own words for a failure: the driver's primary message, first line."""
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    text = getattr(diag, "message_primary", None) or str(orig).strip()
    return f"{type(orig).__name__}: {text.splitlines()[0] if text else 'no message'}"


_SQLITE_FILE = re.compile(r"sqlite:///(?P<path>[^?]+)")


def sqlite_file(cfg: DatabaseConfig, environ: Mapping[str, str]) -> Path | None:
    """The file of the configured database when it is a plain SQLite URL (``sqlite:///portal.db``,
    ``sqlite:////var/lib/etl/portal.db``; ``ETL_DATABASE_URL`` first); None for any other."""
    found = _SQLITE_FILE.fullmatch(environ.get("ETL_DATABASE_URL") or cfg.url)
    return Path(found["path"]) if found and found["path"] != ":memory:" else None


class SqliteRuns:
    """The run records of an SQLite portal database, read-only."""

    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def _reading(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro",
                                         uri=True)) as conn:
                yield conn
        except sqlite3.Error as exc:
            raise LoadError(f"database failure while {what}: {describe(exc)}",
                            hint="nothing was changed; run again") from exc

    def check_schema(self) -> None:
        """Raise ConfigError unless the schema is at the newest migration (a missing file has
        none)."""
        current = None
        if self.path.exists():
            with self._reading("reading the schema revision") as conn:
                tables = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                      "AND name = 'alembic_version'").fetchone()
                row = conn.execute(CURRENT_REVISION).fetchone() if tables else None
                current = row[0] if row else None
        check_revision(current)

    def last_runs(self, source: str) -> tuple[dict | None, dict | None]:
        """The source's newest import run and newest successful one (status, times in UTC)."""
        with self._reading("reading runs") as conn:
            conn.row_factory = sqlite3.Row
            return tuple(_timed(conn.execute(query, {"source": source}).fetchone())
                         for query in (NEWEST_RUN, NEWEST_SUCCESS))  # type: ignore[return-value]


def _timed(row: sqlite3.Row | None) -> dict | None:
    """A run as a dict, its times as UTC datetimes (SQLite keeps them as text)."""
    if row is None:
        return None
    out = dict(row)
    for key in ("finished_at", "export_time"):
        out[key] = as_utc(datetime.fromisoformat(out[key])) if out[key] else None
    return out
