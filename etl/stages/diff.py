"""Stage diff: canonical entities vs the client's last accepted state -> a ChangeSet.

Rows are compared by a hash of their ERP-owned fields, whole column at a time; only rows whose
hash differs are compared field by field. What vanished from a full export is ended, never
deleted. Each added, reactivated, ended or changed row becomes an event; a person's change is a
``name_changed`` or ``contact_changed``, a tenancy's announced end a ``tenancy_ending``. A text
that differs from the stored one only where the export lost characters (``Y?lmaz`` for the
stored ``Yılmaz``) is no change: the stored text is kept (`keep_stored_where_lost`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from etl.core import hashing, textops
from etl.core.canonical import canonical, key_of, row_hash
from etl.core.changes import EVENT_COLUMNS, ChangeSet, Comparison, event_rows
from etl.core.meanwhile import each
from etl.core.model import ENTITIES, Entities, Kind

NAME_FIELDS = ("salutation", "title", "first_name", "last_name", "company_name")
CONTACT_FIELDS = ("email", "email_secondary", "phone", "mobile")


def prepare(new: Entities) -> dict[str, pd.DataFrame]:
    """The export's entities in canonical form with their row hashes (`etl.core.meanwhile.each`:
    two entities at a time)."""

    def one(name: str) -> pd.DataFrame:
        cur = canonical(new.frames[name], name)
        cur["row_hash"] = row_hash(cur)
        return cur

    return dict(zip(ENTITIES, each(one, ENTITIES, new.rows), strict=True))


def digest(prepared: dict[str, pd.DataFrame]) -> str:
    """One fingerprint of a whole export's content, independent of row order: equal digests
    mean an unchanged re-export. Per entity a hash of the multiset of its row hashes in linear
    time (sorting them took 0.2 s at 800k rows): their count and two sums modulo 2^64, of the
    hashes and of the hashes mixed by SplitMix64's finaliser."""
    h = hashlib.sha256()
    for name in ENTITIES:
        x = prepared[name]["row_hash"].to_numpy(np.int64).view(np.uint64)
        z = hashing.mix(x)
        h.update(f"{name}:{len(x)}:{x.sum(dtype=np.uint64)}:{z.sum(dtype=np.uint64)};".encode())
    return h.hexdigest()


def compare(state: dict[str, pd.DataFrame], prepared: dict[str, pd.DataFrame]) -> Comparison:
    """Classify every row on keys and hashes alone: added, vanished (ended), reactivated, or
    hash differs (maybe changed). Keys are matched with Arrow's hash kernel (``index_in``);
    stored keys are unique (primary keys)."""
    joins = {name: _classify(name, state[name], prepared[name]) for name in ENTITIES}
    return Comparison(prepared, state, joins)


def _classify(name: str, before: pd.DataFrame, cur: pd.DataFrame) -> pd.DataFrame:
    keys = list(ENTITIES[name].key)
    at_old = pc.fill_null(pc.index_in(textops.composite([cur[k] for k in keys]),
                                      value_set=textops.composite([before[k] for k in keys])),
                          -1).to_numpy().astype(np.int64)
    return classified(at_old, before, cur["row_hash"].to_numpy(np.int64))


def classified(at_old: np.ndarray, before: pd.DataFrame, hashes: np.ndarray) -> pd.DataFrame:
    """Every row classified, given for each of the export's rows (their ``hashes``) the
    position of the stored row of its key (-1: none) — the rows of `Comparison.joins`."""
    matched = at_old >= 0
    seen = np.zeros(len(before), dtype=bool)
    seen[at_old[matched]] = True
    only_old = np.flatnonzero(~seen)
    active = before["active"].to_numpy(bool)
    old_hash = before["row_hash"].to_numpy(np.int64)
    was_active = np.zeros(len(hashes), dtype=bool)
    was_active[matched] = active[at_old[matched]]
    same_hash = np.zeros(len(hashes), dtype=bool)
    same_hash[matched] = old_hash[at_old[matched]] == hashes[matched]
    none = np.zeros(len(only_old), dtype=bool)
    return pd.DataFrame({
        "_new": np.concatenate([np.arange(len(hashes), dtype=np.int64),
                                np.full(len(only_old), -1, np.int64)]),
        "_old": np.concatenate([at_old, only_old]),
        "added": np.concatenate([~matched, none]),
        "vanished": np.concatenate([np.zeros(len(hashes), bool), active[only_old]]),
        "reactivated": np.concatenate([matched & ~was_active, none]),
        "differs": np.concatenate([matched & was_active & ~same_hash, none]),
    })


def keep_stored_where_lost(comparison: Comparison,
                           old_rows: dict[str, pd.DataFrame]) -> Comparison:
    """The comparison with every text the export lost characters of (`textops.LOST_CHARACTER`)
    replaced by the stored text when that is the same text with those characters intact: a
    legacy ERP's ``Y?lmaz`` never overwrites the ``Yılmaz`` the portal holds, and is no
    ``name_changed``. Only rows whose hash differs are looked at (``old_rows``: their stored
    values), and of them only texts with a lost character, one by one."""
    prepared = dict(comparison.prepared)
    for name, entity in ENTITIES.items():
        j = comparison.joins[name]
        at = j.loc[j["differs"], "_new"].to_numpy(np.int64)
        if not len(at):
            continue
        key = list(entity.key)
        now = prepared[name].iloc[at]
        texts = [f.name for f in entity.fields if f.kind is Kind.TEXT and f.name not in key]
        hits = {f: textops.contains(now[f], textops.LOST_CHARACTER) for f in texts}
        if not any(hit.any() for hit in hits.values()):
            continue  # the common case: nothing lost, no stored values needed
        was = now[key].merge(old_rows[name], on=key, how="left").set_axis(now.index)
        for field_name, hit in hits.items():
            lost = hit & was[field_name].notna()
            keep = [i for i, new, old in zip(now.index[lost], now.loc[lost, field_name],
                                             was.loc[lost, field_name], strict=True)
                    if _same_but_lost(new, old)]
            if keep:
                if prepared[name] is comparison.prepared[name]:
                    prepared[name] = prepared[name].copy()
                prepared[name].loc[keep, field_name] = was.loc[keep, field_name]
    return Comparison(prepared, comparison.state, comparison.joins)


def _same_but_lost(new: str, old: str) -> bool:
    """Whether ``new`` is ``old`` with some characters replaced by '?' or U+FFFD."""
    return len(new) == len(old) and new != old and all(
        a == b or a in "?\ufffd" for a, b in zip(new, old, strict=True))


def next_state(comparison: Comparison, fields: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """The client's state once the export is applied: every row of the export, active, and
    every stored row it lacks, inactive (ended now or before) — what the tables will hold."""
    out = {}
    for name in ENTITIES:
        cols = [*fields[name], "row_hash"]
        j = comparison.joins[name]
        gone = j.loc[j["_new"] < 0, "_old"].to_numpy(np.int64)
        out[name] = pd.concat([
            comparison.prepared[name][cols].assign(active=True),
            comparison.state[name].iloc[gone][cols].assign(active=False),
        ], ignore_index=True)
    return out


# What a row to write is; a category, one byte a row (800k rows' text: ~30 MB). rehash: the same
# values, a new hash (the hash's definition changed).
ACTIONS = ("added", "reactivated", "changed", "rehash")


def changes(comparison: Comparison, old_rows: dict[str, pd.DataFrame]) -> ChangeSet:
    """The change set, given the stored values (canonical) of ``comparison.needed()``: rows to
    write and end, and an event per added, reactivated, ended or changed row (residents' moves
    are added by `etl.stages.moves`)."""
    prepared, state = comparison.prepared, comparison.state
    upserts: dict[str, pd.DataFrame] = {}
    ended: dict[str, pd.DataFrame] = {}
    events: list[pd.DataFrame] = []
    for name, entity in ENTITIES.items():
        fields, key = entity.field_names, list(entity.key)
        cur, before, j = prepared[name], state[name], comparison.joins[name]
        differs = j["differs"].to_numpy()
        now_rows = cur.iloc[j.loc[differs, "_new"].to_numpy()].reset_index(drop=True)
        was_rows = now_rows[key].merge(old_rows[name], on=key, how="left")
        changed_fields = _changed_fields(now_rows, was_rows, entity.key, fields)
        real = (changed_fields != "").to_numpy()
        action = np.full(len(j), -1, np.int8)  # per row: its place in ACTIONS, or -1
        action[j["added"].to_numpy()] = 0
        action[j["reactivated"].to_numpy()] = 1
        action[differs] = np.where(real, 2, 3)
        write = action >= 0
        upserts[name] = cur.iloc[j.loc[write, "_new"].to_numpy()].assign(
            action=pd.Categorical.from_codes(action[write], ACTIONS))
        vanished_at = j.loc[j["vanished"], "_old"].to_numpy()
        ended[name] = before.iloc[vanished_at][key].reset_index(drop=True)
        if before.empty:
            continue  # first import: no per-row events (see below)

        def keys_at(frame: pd.DataFrame, at: np.ndarray, name: str = name) -> pd.Series:
            return key_of(frame.iloc[at], name).reset_index(drop=True)

        events += [
            event_rows(name, f"{name}_added", keys_at(cur, j.loc[j["added"], "_new"].to_numpy())),
            event_rows(name, f"{name}_reactivated",
                    keys_at(cur, j.loc[j["reactivated"], "_new"].to_numpy())),
            event_rows(name, f"{name}_ended", keys_at(before, vanished_at)),
            *_change_events(name, key_of(now_rows, name)[real], changed_fields[real],
                            now_rows[real]),
        ]
    counts = {name: len(frame) for name, frame in prepared.items()}
    if comparison.first_import:
        # A client's first import: one event per entity instead of one per row; the portal
        # reads the tables (and no resident has "moved in" because the portal went live).
        first = pd.DataFrame({"entity": list(ENTITIES), "entity_key": "*",
                              "event": "initial_import"})
        return ChangeSet(upserts, ended, first.reindex(columns=EVENT_COLUMNS), counts)
    all_events = pd.concat([pd.DataFrame(columns=EVENT_COLUMNS), *(e for e in events if len(e))],
                           ignore_index=True)
    return ChangeSet(upserts, ended, all_events.reindex(columns=EVENT_COLUMNS), counts)


def _changed_fields(
    now: pd.DataFrame, was: pd.DataFrame, key: tuple[str, ...], fields: list[str]
) -> pd.Series:
    """Comma-separated names of the fields that differ between the aligned new and old rows."""
    out = pd.Series("", index=now.index, dtype="str")
    for f in fields:
        if f in key:
            continue
        a, b = now[f], was[f]
        differs = ~((a == b).fillna(False).astype(bool) | (a.isna() & b.isna()))
        out = out + np.where(differs, f + ",", "")
    return out.str.rstrip(",")


def _change_events(
    entity: str, keys: pd.Series, fields: pd.Series, rows: pd.DataFrame
) -> list[pd.DataFrame]:
    """``<entity>_changed``; a person's change is split into ``name_changed`` and
    ``contact_changed``; a tenancy's newly set or moved end date is ``tenancy_ending``."""
    if keys.empty:
        return []
    if entity == "person":
        groups = {"name_changed": NAME_FIELDS, "contact_changed": CONTACT_FIELDS}
    elif entity == "tenancy":
        groups = {"tenancy_ending": ("end_date",),
                  "tenancy_changed": ("unit_id", "start_date")}
    else:
        groups = {f"{entity}_changed": tuple(ENTITIES[entity].field_names)}
    out = []
    for event, members in groups.items():
        picked = fields.str.split(",").map(lambda fs, m=members: ",".join(f for f in fs if f in m))
        if event == "tenancy_ending":
            picked = picked.where(rows["end_date"].notna(), "")
        mask = picked != ""
        if mask.any():
            out.append(event_rows(entity, event, keys[mask], fields=picked[mask]))
    if entity == "tenancy":  # an end date taken back is an ordinary change
        withdrawn = fields.str.contains("end_date") & rows["end_date"].isna()
        if withdrawn.any():
            out.append(event_rows(entity, "tenancy_changed", keys[withdrawn], fields="end_date"))
    return out
