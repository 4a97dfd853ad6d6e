"""Store: the portal schema's migrations. Reading where a database stands and which migration
is the newest needs no Alembic (one query, and the migration files' ``revision`` lines), so
that every command but `etl db upgrade` starts without importing it; only upgrading runs
Alembic."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text

from etl.core.errors import ConfigError
from etl.store.glance import CURRENT_REVISION, MIGRATIONS


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
    return conn.execute(text(CURRENT_REVISION)).scalar()
