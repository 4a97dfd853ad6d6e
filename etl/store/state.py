"""Store: a client's stored state — what the diff compares an export with.

Every stored row of the client (active and ended) with its keys, row hash, active flag and what
moves need, read from the client's state stream (``etl_state``: one zstd-compressed Arrow stream
per entity, written in the same transaction as the rows it describes) or, before the first one,
from the entity tables; and all ERP-owned fields of the few rows whose hash differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Table, func, insert, select, text, tuple_, update

from etl.core.canonical import canonical
from etl.core.model import ENTITIES
from etl.core.packed import Packed, stream
from etl.core.trim import trim
from etl.store import schema


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
    s = schema.states
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


def stale_states(conn: Connection, client: str, state: Mapping[str, pd.DataFrame],
                 unchanged: Collection[str] = ()) -> list[str]:
    """The entities of the client's new state (``stages.diff.next_state``) whose stored state
    must be replaced: all but those in ``unchanged`` (no row written or ended) whose stored
    state holds the same fields — their rows are the same."""
    s = schema.states
    held = dict(conn.execute(select(s.c.entity, s.c.columns).where(s.c.client == client)).all())
    return [entity for entity, frame in state.items()
            if entity not in unchanged or held.get(entity) != ",".join(_fields(frame.columns))]


def pack_state(state: Mapping[str, pd.DataFrame], only: Collection[str]) -> dict[str, Packed]:
    """The state of the entities ``only`` as the store keeps it."""
    packed = {entity: Packed.of(pa.Table.from_pandas(state[entity], preserve_index=False))
              for entity in only}
    trim()  # what packing freed (its thread's own heap)
    return packed


def write_state(conn: Connection, client: str, run_id: str, packed: Mapping[str, Packed]
                ) -> None:
    """Replace the client's stored state of these entities (`pack_state`), in the caller's
    transaction."""
    s = schema.states
    conn.execute(s.delete().where(s.c.client == client, s.c.entity.in_(list(packed))))
    if packed:
        conn.execute(insert(s), [
            {"client": client, "entity": entity, "run_id": run_id, "rows": data.rows,
             "columns": ",".join(_fields(data.columns)), "data": data.data}
            for entity, data in packed.items()])


def _fields(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in ("row_hash", "active")]


def erase_in_state(conn: Connection, client: str, entity: str, keys: pd.Series,
                   row_hashes: pd.Series, fields: list[str], run_id: str) -> None:
    """In the client's stored state of a single-key ``entity``: the rows with these keys lose
    their ``fields`` (where the state holds them) and get their new row hashes — so that no
    copy of an erased value stays behind, and the state still equals the tables."""
    s = schema.states
    where = (s.c.client == client) & (s.c.entity == entity)
    data = conn.execute(select(s.c.data).where(where)).scalar()
    if data is None:
        return  # no state yet: the next import reads the tables
    table = pa.ipc.open_stream(data).read_all()
    key = ENTITIES[entity].key[0]
    at = pc.index_in(table[key], value_set=pa.array(keys.tolist(), table[key].type))
    hit = pc.is_valid(at)
    new_hash = pc.take(pa.array(row_hashes.to_numpy(np.int64)), pc.fill_null(at, 0))
    columns = {name: table[name] for name in table.column_names}
    columns["row_hash"] = pc.if_else(hit, new_hash, table["row_hash"])
    for name in fields:
        if name in columns:
            columns[name] = pc.if_else(hit, pa.scalar(None, columns[name].type), columns[name])
    conn.execute(update(s).where(where).values(data=stream(pa.table(columns)), run_id=run_id))


def _table_state(
    conn: Connection, client: str, fields: dict[str, list[str]]
) -> dict[str, pd.DataFrame]:
    state = {}
    for name, table in schema.ENTITY_TABLES.items():
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
        table, fields = schema.ENTITY_TABLES[name], ENTITIES[name].field_names
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
    keys, match, params = key_arrays(key, wanted)
    columns = ", ".join(f't."{f}"' for f in fields)
    stmt = text(f'SELECT {columns} FROM "{table.name}" t JOIN {keys} '
                f'ON t.client = :client AND {match}')
    rows = conn.execute(stmt, {**params, "client": client}).all()
    return pd.DataFrame(rows, columns=fields)


def key_arrays(key: tuple[str, ...], wanted: pd.DataFrame) -> tuple[str, str, dict]:
    """PostgreSQL: the keys of ``wanted`` as one relation ``k`` (unnest() of one text array
    parameter per key column), the condition that matches them to table ``t``, and the
    parameters."""
    names = [f"k{i}" for i in range(len(key))]
    arrays = ", ".join(f"CAST(:{n} AS text[])" for n in names)
    match = " AND ".join(f't."{k}" = k.{n}' for k, n in zip(key, names, strict=True))
    params = {n: wanted[k].astype("object").tolist() for k, n in zip(key, names, strict=True)}
    return f'unnest({arrays}) AS k({", ".join(names)})', match, params


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


def state_token(conn: Connection, client: str, source: str) -> str:
    """A token of what the client's stored state is: which runs wrote each entity's state, and
    the source's last accepted export. Any import, purge or erasure of the client changes it."""
    snap = schema.snapshots
    last = conn.execute(select(snap.c.run_id, snap.c.digest)
                        .where(snap.c.source == source)).first()
    seen = repr((state_digest(conn, client), tuple(last) if last else None))
    return hashlib.sha256(seen.encode()).hexdigest()


def state_digest(conn: Connection, client: str) -> str:
    """Which runs wrote the client's stored state, and how many rows each entity's holds: any
    import, purge or erasure that changes the state changes it."""
    s = schema.states
    written = conn.execute(select(s.c.entity, s.c.run_id, s.c.rows)
                           .where(s.c.client == client).order_by(s.c.entity)).all()
    return hashlib.sha256(repr([tuple(r) for r in written]).encode()).hexdigest()
