"""Store: writing an export's change set — rows, ended rows, change events — together with its
ledger entry, snapshot and the client's new state, on the caller's connection (one transaction).

Only ERP-owned columns and the import's bookkeeping are written (invariant 1). PostgreSQL gets
its rows through binary COPY (new rows straight into their table, changed ones into a temporary
table and one INSERT ... ON CONFLICT); SQLite through executemany + ON CONFLICT.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pgpq import ArrowToPostgresBinaryEncoder
from sqlalchemy import (
    Connection,
    MetaData,
    Table,
    and_,
    bindparam,
    case,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from etl.core import faults
from etl.core.changes import ChangeSet
from etl.core.exports import ExportFile
from etl.core.meanwhile import meanwhile
from etl.core.model import ENTITIES, Kind
from etl.store import schema
from etl.store.ledger import RunRecord, enter_files, record_run, save_snapshot
from etl.store.locks import lock_outbox
from etl.store.state import key_arrays, pack_state, stale_states, write_state

# rows converted and encoded for COPY at a time (bounds the memory a part takes beside the rows)
COPY_CHUNK_ROWS = 20_000
# rows turned into Python values at a time for SQLite's executemany (bounds peak memory)
SQLITE_CHUNK_ROWS = 50_000


def apply(
    conn: Connection,
    changes: ChangeSet,
    run: RunRecord,
    files: list[ExportFile],
    now: datetime,
    status: str,
    digest: str,
    state: dict[str, pd.DataFrame] | None = None,
    timings: dict[str, float] | None = None,
    raw_digest: str | None = None,
) -> None:
    """Write the change set, its bookkeeping and (when given) the client's new state on
    ``conn`` (inside the caller's transaction); ``timings``: seconds per stage, recorded;
    ``digest``, ``raw_digest``: the export's content and data lines (the snapshot's).

    Raises sqlalchemy errors as they come; IntegrityError on etl_applied means another run
    applied the same file first.
    """
    faults.point("load_before_data")
    unchanged = [name for name in ENTITIES if not len(changes.upserts.get(name, ()))
                 and not len(changes.ended.get(name, ()))]
    # the state to replace, packed on the other core while the database takes the rows
    packed = (meanwhile(pack_state, state, stale_states(conn, run.client, state, unchanged))
              if state is not None else None)
    enter_files(conn, run, files, now)
    for name, rows in changes.upserts.items():
        if len(rows):
            _upsert(conn, schema.ENTITY_TABLES[name], name, rows, run, now)
    for name, keys in changes.ended.items():
        if len(keys):
            _end(conn, schema.ENTITY_TABLES[name], name, keys, run, now)
    faults.point("load_after_data")
    _analyze_after_bulk_writes(conn, changes)
    record_run(conn, run, files, now, status, changes.summary(), None, timings=timings)
    if packed is not None:
        write_state(conn, run.client, run.run_id, packed.result())
    save_snapshot(conn, run, now, changes.counts, digest, raw_digest)
    if len(changes.events):  # last: the outbox lock is held from here to the commit
        append_events(conn, changes.events, run, now)


# A table whose rows changed this much gets fresh planner statistics in the same transaction,
# so the next import's key lookups use the primary key (autovacuum may come later).
ANALYZE_SHARE, ANALYZE_MIN_ROWS = 0.10, 10_000


def _analyze_after_bulk_writes(conn: Connection, changes: ChangeSet) -> None:
    if conn.dialect.name != "postgresql":
        return
    # a small sample (3,000 rows) is plenty for row estimates and costs ~30 ms a table;
    # autovacuum refines the statistics later
    conn.exec_driver_sql("SET LOCAL default_statistics_target = 10")
    for name, table in schema.ENTITY_TABLES.items():
        written = len(changes.upserts.get(name, ())) + len(changes.ended.get(name, ()))
        if written >= max(ANALYZE_MIN_ROWS, ANALYZE_SHARE * changes.counts.get(name, 0)):
            conn.exec_driver_sql(f'ANALYZE "{table.name}"')
    conn.exec_driver_sql("SET LOCAL default_statistics_target TO DEFAULT")


def _parts(rows: pd.DataFrame, name: str, run: RunRecord, now: datetime) -> Iterator[pa.Table]:
    """The rows as the table's columns (`_values`), ``COPY_CHUNK_ROWS`` at a time: the columns
    of one part are converted and held at a time, not those of every row."""
    for start in range(0, max(len(rows), 1), COPY_CHUNK_ROWS):
        yield _values(rows.iloc[start:start + COPY_CHUNK_ROWS], name, run, now)


def _values(rows: pd.DataFrame, name: str, run: RunRecord, now: datetime) -> pa.Table:
    """The rows as the table's columns (ERP-owned fields plus bookkeeping), as an Arrow table:
    one columnar conversion, then PostgreSQL's binary COPY format or Python values for SQLite."""
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
    if "erased_at" in schema.ENTITY_TABLES[name].c:  # the ERP brought the row back
        columns["erased_at"] = columns["valid_to"]
    return pa.table(columns)


def append_events(conn: Connection, events: pd.DataFrame, run: RunRecord, now: datetime) -> None:
    """Change events of the run, to the outbox — under the outbox lock, so that event ids are
    visible in the order they were given (a consumer's cursor never skips one)."""
    lock_outbox(conn)
    _append(conn, schema.events, [_event_values(events, run, now)])


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
    if added.all():  # a first import: every row (no copy of them)
        _append(conn, table, _parts(rows, name, run, now))
        return
    if added.any():
        _append(conn, table, _parts(rows[added], name, run, now))
    if (~added).any():
        _merge(conn, table, name, _parts(rows[~added], name, run, now))


def _append(conn: Connection, table: Table, parts: Iterable[pa.Table]) -> None:
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, parts)
        return
    raw = conn.connection.driver_connection
    for values in parts:
        names = ", ".join(f'"{c}"' for c in values.column_names)
        marks = ", ".join("?" * values.num_columns)
        for batch in values.to_batches(SQLITE_CHUNK_ROWS):
            raw.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
                            zip(*_sqlite_columns(batch), strict=True))


def _merge(conn: Connection, table: Table, name: str, parts: Iterator[pa.Table]) -> None:
    first = next(parts)
    parts = itertools.chain([first], parts)
    columns = first.column_names
    if conn.dialect.name == "postgresql":
        temp = f"tmp_{table.name}"
        cols = ", ".join(f'"{c}"' for c in columns)
        conn.exec_driver_sql(f'CREATE TEMP TABLE "{temp}" ON COMMIT DROP AS SELECT {cols} '
                             f'FROM "{table.name}" WITH NO DATA')
        _copy(conn, temp, parts)
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
        return
    for values in parts:
        for batch in values.to_batches(SQLITE_CHUNK_ROWS):
            conn.execute(stmt, batch.to_pylist())


def _copy(conn: Connection, table_name: str, parts: Iterable[pa.Table]) -> None:
    """COPY the parts, Arrow tables of one schema, into ``table_name`` in PostgreSQL's binary
    format (pgpq encodes it from the columns, in Rust): no value is formatted as text here nor
    parsed from text by the server (a first import's COPYs at 800k rows: 7.0 s, 11.3 s as
    CSV)."""
    parts = iter(parts)
    first = next(parts)
    cols = ", ".join(f'"{c}"' for c in first.column_names)
    raw = conn.connection.driver_connection
    encoder = ArrowToPostgresBinaryEncoder(first.schema)
    with raw.cursor() as cur, cur.copy(
        f'COPY "{table_name}" ({cols}) FROM STDIN WITH (FORMAT binary)'
    ) as copy:
        copy.write(encoder.write_header())
        for values in itertools.chain([first], parts):
            for batch in values.to_batches(COPY_CHUNK_ROWS):
                copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


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
    """The rows of these keys ended: on PostgreSQL one statement over all of them."""
    key = ENTITIES[name].key
    ended = {"now": now, "run": run.run_id, "client": run.client}
    if conn.dialect.name == "postgresql":
        rows, match, params = key_arrays(key, keys)
        conn.execute(text(f'UPDATE "{table.name}" t SET active = false, valid_to = :now, '
                          f'updated_run = :run FROM {rows} '
                          f'WHERE t.client = :client AND t.active AND {match}'),
                     {**params, **ended})
        return
    stmt = (
        update(table)
        .where(and_(table.c.client == run.client, table.c.active.is_(True),
                    *(table.c[k] == bindparam(f"k_{k}") for k in key)))
        .values(active=False, valid_to=now, updated_run=run.run_id)
    )
    conn.execute(stmt, [{f"k_{k}": v for k, v in zip(key, row, strict=True)}
                        for row in zip(*(keys[k].tolist() for k in key), strict=True)])
