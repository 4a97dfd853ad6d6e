"""Store: retention — the personal fields of ended persons erased (in the tables and in the
stored state; keys stay, so history and events still join), old change events deleted; each
erasure leaves a ``person_erased`` event, keys only."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, bindparam, delete, func, select, update

from etl.core.canonical import row_hash
from etl.core.changes import event_rows
from etl.core.model import ENTITIES
from etl.store import schema, state
from etl.store.ledger import RunRecord
from etl.store.writes import append_events

PERSON = ENTITIES["person"]
PERSONAL = [f.name for f in PERSON.fields if f.personal]


def person_status(conn: Connection, client: str, person: str) -> str | None:
    """active, ended or erased; None when the client has no such person."""
    p = schema.ENTITY_TABLES["person"]
    row = conn.execute(select(p.c.active, p.c.erased_at).where(
        p.c.client == client, p.c.person_id == person)).first()
    if row is None:
        return None
    return "active" if row.active else "erased" if row.erased_at is not None else "ended"


def ended_persons(conn: Connection, client: str, ended_before: datetime) -> list[str]:
    """Keys of the client's persons ended at or before ``ended_before`` whose personal fields
    are still stored."""
    p = schema.ENTITY_TABLES["person"]
    stmt = select(p.c.person_id).where(p.c.client == client, p.c.active.is_(False),
                                      p.c.valid_to <= ended_before, p.c.erased_at.is_(None))
    return sorted(conn.execute(stmt).scalars())


def erase_persons(conn: Connection, keys: list[str], run: RunRecord, now: datetime) -> None:
    """Erase the personal fields of these persons of ``run.client`` (tables and stored state)
    and append a ``person_erased`` event for each. The row hash is recomputed over what is
    left, so that the stored state keeps equalling the tables."""
    if not keys:
        return
    wanted = pd.DataFrame({"person_id": pd.Series(keys, dtype="str")})
    rows = state.read_rows(conn, run.client, {"person": wanted})["person"]
    for name in PERSONAL:
        rows[name] = pd.Series(pd.NA, index=rows.index, dtype="str")
    hashes = row_hash(rows[PERSON.field_names])
    p = schema.ENTITY_TABLES["person"]
    stmt = (update(p).where(p.c.client == run.client, p.c.person_id == bindparam("key"))
            .values(**dict.fromkeys(PERSONAL), row_hash=bindparam("hash"), erased_at=now,
                    updated_run=run.run_id))
    conn.execute(stmt, [{"key": k, "hash": int(h)}
                        for k, h in zip(rows["person_id"], hashes, strict=True)])
    state.erase_in_state(conn, run.client, "person", rows["person_id"], hashes, PERSONAL,
                         run.run_id)
    append_events(conn, event_rows("person", "person_erased", rows["person_id"]), run, now)


def old_events(conn: Connection, client: str, created_before: datetime) -> int:
    """How many of the client's change events were written at or before ``created_before``."""
    e = schema.events
    return conn.execute(select(func.count()).select_from(e).where(
        e.c.client == client, e.c.created_at <= created_before)).scalar_one()


def delete_events(conn: Connection, client: str, created_before: datetime) -> int:
    """Delete the client's change events written at or before ``created_before``; how many."""
    e = schema.events
    result = conn.execute(delete(e).where(e.c.client == client,
                                          e.c.created_at <= created_before))
    return int(result.rowcount)
