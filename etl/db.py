"""Database: the portal schema (SQLAlchemy Core), engines, and migrations (Alembic).

Entity tables hold ERP-owned columns (written only by the import), portal-owned columns (never
written by the import) and validity (``active``, ``valid_from``, ``valid_to``): nothing is
hard-deleted. The active rows with their ``row_hash`` are the last accepted snapshot of a client,
written in the same transaction as everything else, so data and snapshot can never disagree.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

from etl.errors import ConfigError
from etl.models import ENTITIES, Kind

metadata = MetaData()

KEY = String(64)
_TYPES = {Kind.TEXT: String(200), Kind.DATE: Date(), Kind.DECIMAL: Float()}

# Columns the portal owns; the import never writes them (invariant 1).
PORTAL_OWNED: dict[str, tuple[tuple[str, object], ...]] = {
    "property": (("quarter", String(100)),),  # Quartier: no ERP knows it
    "person": (
        ("app_account_id", String(64)),
        ("invited_at", DateTime(timezone=True)),
        ("registered_at", DateTime(timezone=True)),
        ("invitation_code", String(32)),
        ("consent_email", Boolean()),
        ("notifications_enabled", Boolean()),
    ),
}


def _entity_table(name: str) -> Table:
    entity = ENTITIES[name]
    columns = [Column("client", KEY, primary_key=True)]
    for f in entity.fields:
        is_key = f.name in entity.key
        columns.append(Column(f.name, KEY if f.name.endswith("_id") else _TYPES[f.kind],
                              primary_key=is_key,
                              nullable=not (is_key or f.required)))
    columns += [
        Column("row_hash", BigInteger, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("valid_from", DateTime(timezone=True), nullable=False),
        Column("valid_to", DateTime(timezone=True)),
        Column("created_run", String(40), nullable=False),
        Column("updated_run", String(40), nullable=False),
    ]
    columns += [Column(col, kind) for col, kind in PORTAL_OWNED.get(name, ())]
    return Table(name, metadata, *columns)


ENTITY_TABLES: dict[str, Table] = {name: _entity_table(name) for name in ENTITIES}

runs = Table(
    "etl_run",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("client", KEY, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),
    Column("files", Text, nullable=False),
    Column("export_time", DateTime(timezone=True)),
    Column("guard", String(20)),
    Column("override_reason", Text),
    Column("summary", Text),  # JSON: counts per event type and entity
    Column("message", Text),
    Index("ix_etl_run_source_started", "source", "started_at"),
)

files = Table(
    "etl_file",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("name", String(400), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("export_time", DateTime(timezone=True)),
    Column("outcome", String(20), nullable=False),
    Index("ix_etl_file_source_sha", "source", "sha256"),
)

# The exactly-once ledger: a file (by content) is applied to a source at most once; the primary
# key makes a concurrent second apply fail inside its transaction.
applied = Table(
    "etl_applied",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("run_id", String(40), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

snapshots = Table(
    "etl_snapshot",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("client", KEY, nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("export_time", DateTime(timezone=True)),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("counts", Text, nullable=False),  # JSON: rows per entity in the accepted export
    Column("digest", String(64), nullable=False),  # content fingerprint (etl.diff.digest)
)

# The client's state as the diff reads it (keys, row hashes, active flags and what moves need),
# one zstd-compressed Arrow IPC stream per entity, written in the same transaction as the rows
# it describes: reading a client's state costs one row per entity, not one per stored row.
states = Table(
    "etl_state",
    metadata,
    Column("client", KEY, primary_key=True),
    Column("entity", String(20), primary_key=True),
    Column("run_id", String(40), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("columns", Text, nullable=False),  # comma-separated field names in the stream
    Column("data", LargeBinary, nullable=False),
)

events = Table(
    "change_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("client", KEY, nullable=False),
    Column("entity", String(20), nullable=False),
    Column("entity_key", String(140), nullable=False),
    Column("event", String(30), nullable=False),
    Column("fields", Text),  # changed field names, comma-separated; never values
    Column("from_unit", KEY),
    Column("to_unit", KEY),
    Column("from_tenancy", KEY),
    Column("to_tenancy", KEY),
    Column("related_key", KEY),  # possible_move: the other person key
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_change_event_client_id", "client", "id"),
    Index("ix_change_event_run", "run_id"),
)

MIGRATIONS = Path(__file__).with_name("migrations")


def engine_for(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def alembic_config(engine: Engine | None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the portal schema to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def check_schema(engine: Engine) -> None:
    """Raise ConfigError unless the database schema is at the newest migration."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise ConfigError(
            f"database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `etl db upgrade`"
        )
