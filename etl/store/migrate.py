"""Store: the portal schema's migrations. Reading where a database stands and which migration
is the newest needs no Alembic (one query, and the migration files' ``revision`` lines), so
that every command but `etl db upgrade` starts without importing it; only upgrading runs
Alembic."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from etl.core.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic's upgrade to ``revision``; raises ConfigError when it cannot, SQLAlchemy's
    errors as they come."""
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    try:
        command.upgrade(cfg, revision)
    except CommandError as exc:
        raise ConfigError(f"the database schema cannot be migrated: {exc}") from exc


def current_revision(conn: Connection) -> str | None:
    """The database's migration (None: an empty database), as Alembic records it."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


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
