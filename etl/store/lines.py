"""Store: the last accepted export's data lines per source and file role (``etl_lines``) — a
hash per line and the keys it gave — and the token of the client's stored state they belong to:
the next export of the source reads only the lines that changed (`etl.pipeline.delta`)."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from sqlalchemy import Connection, insert, select

from etl.core.packed import Packed
from etl.store import schema
from etl.store.state import state_digest


def load_lines(conn: Connection, source: str, client: str, reads: str
               ) -> tuple[dict[str, pa.Table], str] | None:
    """The source's stored lines per file role and the state token they were written with;
    None when there are none, or they were read otherwise (``reads``) or for another state."""
    t = schema.lines
    rows = conn.execute(select(t.c.role, t.c.reads, t.c.state, t.c.data)
                        .where(t.c.source == source)).all()
    token = state_digest(conn, client)
    if not rows or any(r.reads != reads or r.state != token for r in rows):
        return None
    return {r.role: pa.ipc.open_stream(r.data).read_all() for r in rows}, token


def save_lines(conn: Connection, source: str, client: str, run_id: str, reads: str,
               tables: Mapping[str, Packed] | None) -> None:
    """Replace the source's stored lines (None: drop them), in the caller's transaction, after
    the client's state was written."""
    t = schema.lines
    conn.execute(t.delete().where(t.c.source == source))
    if not tables:
        return
    token = state_digest(conn, client)
    conn.execute(insert(t), [{"source": source, "role": role, "run_id": run_id, "reads": reads,
                              "state": token, "rows": p.rows, "data": p.data}
                             for role, p in tables.items()])
