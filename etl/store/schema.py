"""Store: the portal schema (SQLAlchemy Core); `migrations/` brings a database to it (Alembic).

Entity tables hold ERP-owned columns (written only by the import), portal-owned columns (never
written by the import) and validity (``active``, ``valid_from``, ``valid_to``): nothing is
hard-deleted. The active rows with their ``row_hash`` are the last accepted snapshot of a client,
written in the same transaction as everything else, so data and snapshot can never disagree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from etl.core.model import ENTITIES, KEY_LENGTH, TEXT_LENGTH, Kind

metadata = MetaData()

KEY = String(KEY_LENGTH)
_TYPES = {Kind.TEXT: String(TEXT_LENGTH), Kind.DATE: Date(), Kind.DECIMAL: Float()}

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
        # a personal field may be required in an export, but is erased when its retention ends
        columns.append(Column(f.name, KEY if f.name.endswith("_id") else _TYPES[f.kind],
                              primary_key=is_key,
                              nullable=not (is_key or (f.required and not f.personal))))
    columns += [
        Column("row_hash", BigInteger, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("valid_from", DateTime(timezone=True), nullable=False),
        Column("valid_to", DateTime(timezone=True)),
        Column("created_run", String(40), nullable=False),
        Column("updated_run", String(40), nullable=False),
    ]
    if any(f.personal for f in entity.fields):
        # when the personal fields were erased (retention or request); reset when the ERP
        # brings the row back
        columns.append(Column("erased_at", DateTime(timezone=True)))
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
    Column("summary", Text),  # JSON: counts per event type (or what a purge removed)
    Column("message", Text),  # why a run failed
    Column("findings", Text),  # JSON: errors per rule of a rejected export
    Column("warnings", Text),  # JSON: problems imported as they are, per rule (any export)
    Column("held", Text),  # JSON: errors whose rows were held back, per rule (applied exports)
    Column("timings", Text),  # JSON: seconds per stage
    Column("report", Text),  # where the report for ERP staff was written
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
    Column("digest", String(64), nullable=False),  # content fingerprint (stages.diff.digest)
    Column("dialect", Text),  # JSON: per file role, encoding, delimiter and header row
    # the data lines as read, with the mapping, rules and code (pipeline.unchanged); NULL when
    # that export had findings or lines above its header that are not plain ASCII
    Column("raw_digest", String(64)),
)

# The client's state as the diff reads it (keys, row hashes, active flags and what moves need),
# one zstd-compressed Arrow IPC stream per entity, written in the same transaction as the rows
# it describes: reading a client's state costs one row per entity, not one per stored row.
# The last accepted export's data lines per source and file role (`etl.pipeline.delta`): a
# 64-bit hash per line and the keys it gave per entity, one zstd-compressed Arrow stream — valid
# while the client's stored state is the one it was written with (``state``: its token) and the
# export was read the same way (``reads``: `etl.pipeline.unchanged.fingerprint`).
lines = Table(
    "etl_lines",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("run_id", String(40), nullable=False),
    Column("reads", String(64), nullable=False),
    Column("state", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

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
