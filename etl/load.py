"""Stage load: read a client's stored state, and apply a ChangeSet in one transaction.

Only ERP-owned columns and the import's bookkeeping are written (invariant 1). PostgreSQL gets
its rows through COPY into a temporary table and one INSERT ... ON CONFLICT; SQLite through
executemany + ON CONFLICT. The caller owns the transaction: everything here runs on the
connection it is given, so data, events, ledger and snapshot commit together or not at all.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from etl import db
from etl.diff import canonical
from etl.errors import LoadError
from etl.models import ENTITIES, ChangeSet, Kind

COPY_CHUNK_ROWS = 100_000
# rows turned into Python values at a time for SQLite's executemany (bounds peak memory)
SQLITE_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class FileRecord:
    name: str
    sha256: str
    size: int
    export_time: datetime | None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    source: str
    client: str
    started_at: datetime
    export_time: datetime | None
    guard: str
    override_reason: str | None


class AlreadyApplied(Exception):
    """Another run applied the same file first (the ledger's key was taken)."""


@contextmanager
def transaction(engine: Engine, source: str) -> Iterator[Connection]:
    """One transaction for one export of ``source``; on PostgreSQL it first takes the source's
    transaction-scoped advisory lock, so runs of one source on several hosts queue up.

    Raises AlreadyApplied when the file ledger refuses the file, LoadError (retryable) for any
    other database failure; either way everything is rolled back.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": zlib.crc32(source.encode())})
            yield conn
    except IntegrityError as exc:
        if "etl_applied" in str(exc.orig) or "etl_applied" in str(exc.statement):
            raise AlreadyApplied(source) from exc
        raise LoadError(f"database refused the import: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise LoadError(f"database failure, rolled back: {exc}") from exc


def read_state(
    conn: Connection, client: str, fields: dict[str, list[str]]
) -> dict[str, pd.DataFrame]:
    """Every stored row of the client (active and ended): the given fields (canonical),
    row_hash and active — from the client's stored state (etl_state) when it holds these
    fields, else from the entity tables."""
    return _stored_state(conn, client, fields) or _table_state(conn, client, fields)


def _stored_state(
    conn: Connection, client: str, fields: dict[str, list[str]]
) -> dict[str, pd.DataFrame] | None:
    s = db.states
    rows = conn.execute(select(s.c.entity, s.c.columns, s.c.data)
                        .where(s.c.client == client)).all()
    if {r.entity for r in rows} != set(ENTITIES):
        return None
    state = {}
    for r in rows:
        need = fields[r.entity]
        if not set(need) <= set(r.columns.split(",")):
            return None  # written for other options (e.g. person details for possible moves)
        table = pa.ipc.open_stream(r.data).read_all()
        frame = table.select([*need, "row_hash", "active"]).to_pandas()
        state[r.entity] = _with_bookkeeping(canonical(frame, r.entity, only_present=True), frame)
    return state


def _with_bookkeeping(out: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    out["row_hash"] = frame["row_hash"].astype("int64")
    out["active"] = frame["active"].astype(bool)
    return out


def write_state(conn: Connection, client: str, run_id: str,
                state: dict[str, pd.DataFrame]) -> None:
    """Replace the client's stored state (``etl.diff.next_state``), in the caller's
    transaction."""
    s = db.states
    conn.execute(s.delete().where(s.c.client == client))
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    records = []
    for entity, frame in state.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        fields = [c for c in frame.columns if c not in ("row_hash", "active")]
        records.append({"client": client, "entity": entity, "run_id": run_id,
                        "rows": len(frame), "columns": ",".join(fields),
                        "data": sink.getvalue().to_pybytes()})
    conn.execute(insert(s), records)


def _table_state(
    conn: Connection, client: str, fields: dict[str, list[str]]
) -> dict[str, pd.DataFrame]:
    state = {}
    for name, table in db.ENTITY_TABLES.items():
        cols = [table.c[f] for f in fields[name]] + [table.c.row_hash, table.c.active]
        frame = _query(conn, select(*cols).where(table.c.client == client),
                       [*fields[name], "row_hash", "active"])
        state[name] = _with_bookkeeping(canonical(frame, name, only_present=True), frame)
    return state


def read_rows(
    conn: Connection, client: str, keys: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """All ERP-owned fields (canonical) of the client's rows with these keys."""
    out = {}
    for name, wanted in keys.items():
        table, fields = db.ENTITY_TABLES[name], ENTITIES[name].field_names
        key = ENTITIES[name].key
        if conn.dialect.name == "postgresql":
            frame = _rows_by_key_arrays(conn, table, client, key, wanted, fields)
        else:
            frame = _rows_by_key_lists(conn, table, client, key, wanted, fields)
        out[name] = canonical(frame, name)
    return out


def _rows_by_key_arrays(conn: Connection, table: Table, client: str, key: tuple[str, ...],
                        wanted: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """PostgreSQL: one query, the keys as array parameters joined through unnest()."""
    names = [f"k{i}" for i in range(len(key))]
    arrays = ", ".join(f"CAST(:{n} AS text[])" for n in names)
    match = " AND ".join(f't."{k}" = k.{n}' for k, n in zip(key, names, strict=True))
    columns = ", ".join(f't."{f}"' for f in fields)
    stmt = text(f'SELECT {columns} FROM "{table.name}" t JOIN unnest({arrays}) '
                f'AS k({", ".join(names)}) ON t.client = :client AND {match}')
    params = {n: wanted[k].astype("object").tolist() for k, n in zip(key, names, strict=True)}
    rows = conn.execute(stmt, {**params, "client": client}).all()
    return pd.DataFrame(rows, columns=fields)


# keys per query on SQLite: older builds allow 999 bound values
SQLITE_KEYS_PER_QUERY = 400


def _rows_by_key_lists(conn: Connection, table: Table, client: str, key: tuple[str, ...],
                       wanted: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """SQLite: IN lists of a few hundred keys per query."""
    columns = [table.c[k] for k in key]
    parts = [pd.DataFrame(columns=fields)]
    rows = list(zip(*(wanted[k].tolist() for k in key), strict=True))
    step = SQLITE_KEYS_PER_QUERY // len(key)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        match = (columns[0].in_([r[0] for r in chunk]) if len(key) == 1
                 else tuple_(*columns).in_(chunk))
        stmt = select(*(table.c[f] for f in fields)).where(table.c.client == client, match)
        parts.append(pd.DataFrame(conn.execute(stmt).all(), columns=fields))
    return pd.concat(parts, ignore_index=True)


def _query(conn: Connection, stmt: object, columns: list[str]) -> pd.DataFrame:
    if conn.dialect.name == "postgresql":
        # one array per column (array_agg): the driver decodes whole columns in C instead of
        # handing over one Python object per row (COPY and fetchall both do)
        inner = stmt.subquery()  # type: ignore[attr-defined]
        arrays = conn.execute(select(*(func.array_agg(inner.c[c]) for c in columns))).one()
        return pd.DataFrame({c: pd.Series(a or [], dtype=None if a else "object")
                             for c, a in zip(columns, arrays, strict=True)})
    rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Snapshot:
    """The source's last accepted export."""

    client: str
    export_time: datetime | None
    counts: dict[str, int]
    digest: str


def last_snapshot(conn: Connection, source: str) -> Snapshot | None:
    """The source's last accepted export; None before the first."""
    s = db.snapshots
    row = conn.execute(select(s.c.client, s.c.export_time, s.c.counts, s.c.digest)
                       .where(s.c.source == source)).first()
    if row is None:
        return None
    return Snapshot(row.client, as_utc(row.export_time), json.loads(row.counts), row.digest)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back timestamps without zone; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def applied_hashes(conn: Connection, source: str, hashes: list[str]) -> set[str]:
    """Which of these file hashes were already applied to the source."""
    rows = conn.execute(
        select(db.applied.c.sha256).where(db.applied.c.source == source,
                                          db.applied.c.sha256.in_(hashes))
    ).scalars()
    return set(rows)


def apply(
    conn: Connection,
    changes: ChangeSet,
    run: RunRecord,
    files: list[FileRecord],
    now: datetime,
    status: str,
    digest: str,
    state: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Write the change set, its bookkeeping and (when given) the client's new state on
    ``conn`` (inside the caller's transaction).

    Raises sqlalchemy errors as they come; IntegrityError on etl_applied means another run
    applied the same file first.
    """
    for sha in sorted({f.sha256 for f in files}):
        conn.execute(insert(db.applied).values(source=run.source, sha256=sha, run_id=run.run_id,
                                                applied_at=now))
    for name, rows in changes.upserts.items():
        if len(rows):
            _upsert(conn, db.ENTITY_TABLES[name], name, rows, run, now)
    for name, keys in changes.ended.items():
        if len(keys):
            _end(conn, db.ENTITY_TABLES[name], name, keys, run, now)
    _analyze_after_bulk_writes(conn, changes)
    if len(changes.events):
        _append(conn, db.events, _event_values(changes.events, run, now))
    record_run(conn, run, files, now, status, changes.summary(), None)
    if state is not None:
        write_state(conn, run.client, run.run_id, state)
    snapshot = {
        "source": run.source, "client": run.client, "run_id": run.run_id,
        "export_time": run.export_time, "applied_at": now, "counts": json.dumps(changes.counts),
        "digest": digest,
    }
    stmt = _dialect_insert(conn, db.snapshots).values(**snapshot)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["source"], set_={k: v for k, v in snapshot.items() if k != "source"}))


# A table whose rows changed this much gets fresh planner statistics in the same transaction,
# so the next import's key lookups use the primary key (autovacuum may come later).
ANALYZE_SHARE, ANALYZE_MIN_ROWS = 0.10, 10_000


def _analyze_after_bulk_writes(conn: Connection, changes: ChangeSet) -> None:
    if conn.dialect.name != "postgresql":
        return
    # a small sample (3,000 rows) is plenty for row estimates and costs ~30 ms a table;
    # autovacuum refines the statistics later
    conn.exec_driver_sql("SET LOCAL default_statistics_target = 10")
    for name, table in db.ENTITY_TABLES.items():
        written = len(changes.upserts.get(name, ())) + len(changes.ended.get(name, ()))
        if written >= max(ANALYZE_MIN_ROWS, ANALYZE_SHARE * changes.counts.get(name, 0)):
            conn.exec_driver_sql(f'ANALYZE "{table.name}"')
    conn.exec_driver_sql("SET LOCAL default_statistics_target TO DEFAULT")


def record_run(
    conn: Connection,
    run: RunRecord,
    files: list[FileRecord],
    now: datetime,
    status: str,
    summary: dict[str, int] | None,
    message: str | None,
) -> None:
    """The run and its files in the ledger."""
    conn.execute(insert(db.runs).values(
        run_id=run.run_id, source=run.source, client=run.client, started_at=run.started_at,
        finished_at=now, status=status, files=json.dumps([f.name for f in files]),
        export_time=run.export_time, guard=run.guard, override_reason=run.override_reason,
        summary=json.dumps(summary or {}), message=message,
    ))
    conn.execute(insert(db.files), [
        {"run_id": run.run_id, "name": f.name, "source": run.source, "sha256": f.sha256,
         "size": f.size, "export_time": f.export_time, "outcome": status}
        for f in files
    ])


def _dialect_insert(conn: Connection, table: Table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _values(rows: pd.DataFrame, name: str, run: RunRecord, now: datetime) -> pa.Table:
    """The rows as the table's columns (ERP-owned fields plus bookkeeping), as an Arrow table:
    one columnar conversion, then a C++ CSV writer for COPY or plain Python values for SQLite."""
    n = len(rows)
    columns: dict[str, pa.Array] = {"client": pa.array([run.client] * n, pa.string())}
    for f in ENTITIES[name].fields:
        kind = {Kind.TEXT: pa.string(), Kind.DATE: pa.date32(), Kind.DECIMAL: pa.float64()}
        columns[f.name] = pa.array(rows[f.name], type=kind[f.kind], from_pandas=True)
    columns["row_hash"] = pa.array(rows["row_hash"].to_numpy(np.int64))
    columns["active"] = pa.array(np.ones(n, bool))
    columns["valid_from"] = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
    columns["valid_to"] = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    columns["created_run"] = pa.array([run.run_id] * n, pa.string())
    columns["updated_run"] = columns["created_run"]
    return pa.table(columns)


def _event_values(events: pd.DataFrame, run: RunRecord, now: datetime) -> pa.Table:
    """The change events as the outbox's columns (its id is the database's)."""
    n = len(events)
    columns = {c: pa.array(events[c], pa.string(), from_pandas=True) for c in events.columns}
    columns["run_id"] = pa.array([run.run_id] * n, pa.string())
    columns["client"] = pa.array([run.client] * n, pa.string())
    columns["created_at"] = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def _upsert(
    conn: Connection, table: Table, name: str, rows: pd.DataFrame, run: RunRecord, now: datetime
) -> None:
    """New rows are appended (nothing can conflict: they are in no state of the client);
    changed and reactivated rows go through INSERT ... ON CONFLICT DO UPDATE."""
    added = (rows["action"] == "added").to_numpy()
    if added.any():
        _append(conn, table, _values(rows[added], name, run, now))
    if (~added).any():
        _merge(conn, table, name, _values(rows[~added], name, run, now))


def _append(conn: Connection, table: Table, values: pa.Table) -> None:
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, values)
        return
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in values.column_names)
    marks = ", ".join("?" * values.num_columns)
    for batch in values.to_batches(SQLITE_CHUNK_ROWS):
        raw.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
                        zip(*_sqlite_columns(batch), strict=True))


def _merge(conn: Connection, table: Table, name: str, values: pa.Table) -> None:
    columns = values.column_names
    if conn.dialect.name == "postgresql":
        temp = f"tmp_{table.name}"
        cols = ", ".join(f'"{c}"' for c in columns)
        conn.exec_driver_sql(f'CREATE TEMP TABLE "{temp}" ON COMMIT DROP AS SELECT {cols} '
                             f'FROM "{table.name}" WITH NO DATA')
        _copy(conn, temp, values)
        source = Table(temp, MetaData(), *(table.c[c]._copy() for c in columns))
        stmt = postgresql.insert(table).from_select(columns, select(*source.c))
    else:
        stmt = sqlite.insert(table)
    keys = ["client", *ENTITIES[name].key]
    erp = [c for c in columns if c not in (*keys, "valid_from", "created_run")]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={
            **{c: stmt.excluded[c] for c in erp},
            # an ended row that comes back starts a new validity; a changed one keeps its own
            "valid_from": case((table.c.active, table.c.valid_from),
                               else_=stmt.excluded.valid_from),
        },
    )
    if conn.dialect.name == "postgresql":
        conn.execute(stmt)
    else:
        for batch in values.to_batches(SQLITE_CHUNK_ROWS):
            conn.execute(stmt, batch.to_pylist())


def _copy(conn: Connection, table_name: str, values: pa.Table) -> None:
    """COPY the Arrow table into ``table_name`` as CSV (empty unquoted = NULL)."""
    cols = ", ".join(f'"{c}"' for c in values.column_names)
    raw = conn.connection.driver_connection
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with raw.cursor() as cur, cur.copy(
        f'COPY "{table_name}" ({cols}) FROM STDIN WITH (FORMAT csv)'
    ) as copy:
        for batch in values.to_batches(COPY_CHUNK_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            copy.write(buf.getbuffer())


def _sqlite_columns(values: pa.RecordBatch) -> list[list[object]]:
    """Python values in the forms SQLAlchemy stores in SQLite (ISO text for dates and times)."""
    out = []
    for name in values.column_names:
        col = values.column(name)
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")  # %S carries the microseconds
        elif pa.types.is_date(col.type):
            col = pc.strftime(col, format="%Y-%m-%d")
        out.append(col.to_pylist())
    return out


def _end(
    conn: Connection, table: Table, name: str, keys: pd.DataFrame, run: RunRecord, now: datetime
) -> None:
    key = ENTITIES[name].key
    stmt = (
        update(table)
        .where(and_(table.c.client == run.client, table.c.active.is_(True),
                    *(table.c[k] == bindparam(f"k_{k}") for k in key)))
        .values(active=False, valid_to=now, updated_run=run.run_id)
    )
    conn.execute(stmt, [{f"k_{k}": v for k, v in zip(key, row, strict=True)}
                        for row in zip(*(keys[k].tolist() for k in key), strict=True)])


def active_counts(state: dict[str, pd.DataFrame]) -> dict[str, int]:
    return {name: int(frame["active"].sum()) for name, frame in state.items()}


def recent_runs(engine: Engine, source: str | None, limit: int) -> pd.DataFrame:
    """The newest runs, newest first."""
    r = db.runs
    stmt = select(r.c.run_id, r.c.source, r.c.status, r.c.guard, r.c.export_time,
                  r.c.finished_at, r.c.summary, r.c.override_reason)
    if source:
        stmt = stmt.where(r.c.source == source)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(r.c.started_at.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=["run_id", "source", "status", "guard", "export_time",
                                       "finished_at", "summary", "override_reason"])


def recent_events(
    engine: Engine, client: str | None, run_id: str | None, event: str | None, limit: int
) -> pd.DataFrame:
    """The newest change events, filtered, in the order they were written."""
    e = db.events
    stmt = select(e.c.id, e.c.run_id, e.c.client, e.c.entity, e.c.entity_key, e.c.event,
                  e.c.fields, e.c.from_unit, e.c.to_unit, e.c.related_key)
    for column, value in ((e.c.client, client), (e.c.run_id, run_id), (e.c.event, event)):
        if value:
            stmt = stmt.where(column == value)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(e.c.id.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=[c.name for c in stmt.selected_columns]).iloc[::-1]
