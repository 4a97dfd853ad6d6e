"""Stage diff: canonical entities vs the client's last accepted snapshot -> a ChangeSet.

Rows are compared by a hash of their ERP-owned fields, whole column at a time; only rows whose
hash differs are compared field by field. What vanished from a full export is ended, never
deleted. Residents' moves are worked out from memberships: a person whose tenancy of unit A ends
(vanishes now, or has an end date near the new start) while a tenancy of unit B of the same
client starts has moved — one ``moved`` event, not a move-out plus a move-in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from etl import hashing, textops
from etl.models import ENTITIES, ChangeSet, Entities, Kind

NAME_FIELDS = ("salutation", "title", "first_name", "last_name")
CONTACT_FIELDS = ("email", "email_secondary", "phone", "mobile")
EVENT_COLUMNS = ["entity", "entity_key", "event", "fields", "from_unit", "to_unit",
                 "from_tenancy", "to_tenancy", "related_key"]


@dataclass(frozen=True)
class DiffOptions:
    """How moves are recognised."""

    move_window_days: int = 62  # |new start - old end| allowed for a move (gap or overlap)
    stable_person_keys: bool = True  # False: same name + email/phone is only a possible move


# What the resident events need of the stored state besides keys, hashes and the active flag;
# everything else is read only for the few rows whose hash differs (etl.load.read_rows).
STATE_FIELDS = {"unit": ("usage_type",), "tenancy": ("unit_id", "start_date", "end_date")}
PERSON_DETAILS = ("first_name", "last_name", "email", "phone", "mobile")


def state_fields(options: DiffOptions) -> dict[str, list[str]]:
    """Per entity, the fields to read of every stored row: the key and what moves need."""
    out = {}
    for name, entity in ENTITIES.items():
        extra = STATE_FIELDS.get(name, ())
        if name == "person" and not options.stable_person_keys:
            extra = PERSON_DETAILS
        out[name] = [*entity.key, *extra]
    return out


_STR = pd.Series([], dtype="str").dtype


def canonical(frame: pd.DataFrame, entity: str, only_present: bool = False) -> pd.DataFrame:
    """The ERP-owned fields in one fixed representation, whichever side they come from
    (``only_present``: just the fields the frame has)."""
    out = {}
    for f in ENTITIES[entity].fields:
        if only_present and f.name not in frame:
            continue
        col = frame[f.name] if f.name in frame else pd.Series(pd.NA, index=frame.index)
        if f.kind is Kind.DATE:
            out[f.name] = pd.to_datetime(col).astype("datetime64[s]")
        elif f.kind is Kind.DECIMAL:
            out[f.name] = pd.to_numeric(col).astype("float64")
        elif col.dtype == _STR:
            out[f.name] = col  # already text with missing values as missing
        else:
            out[f.name] = col.astype("str").where(col.notna(), None).astype("str")
    return pd.DataFrame(out, index=frame.index)


def row_hash(frame: pd.DataFrame) -> pd.Series:
    """A signed 64-bit hash per row of canonical fields (stored as BIGINT)."""
    return pd.Series(hashing.rows(frame), index=frame.index)


def key_of(frame: pd.DataFrame, entity: str) -> pd.Series:
    """The entity key as one string ("tenancy|person" for memberships)."""
    key = ENTITIES[entity].key
    out = frame[key[0]].astype("str")
    for k in key[1:]:
        out = out + "|" + frame[k].astype("str")
    return out


def prepare(new: Entities) -> dict[str, pd.DataFrame]:
    """The export's entities in canonical form with their row hashes."""
    out = {}
    for name in ENTITIES:
        cur = canonical(new.frames[name], name)
        cur["row_hash"] = row_hash(cur)
        out[name] = cur
    return out


def digest(prepared: dict[str, pd.DataFrame]) -> str:
    """One fingerprint of a whole export's content, independent of row order: equal digests
    mean an unchanged re-export."""
    h = hashlib.sha256()
    for name in ENTITIES:
        h.update(name.encode())
        h.update(np.sort(prepared[name]["row_hash"].to_numpy(np.int64)).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Comparison:
    """The export's rows classified against the stored state, before any values are compared."""

    prepared: dict[str, pd.DataFrame]
    state: dict[str, pd.DataFrame]
    joins: dict[str, pd.DataFrame]  # per entity: _new / _old positions and the row classes

    def needed(self) -> dict[str, pd.DataFrame]:
        """Keys of the stored rows whose values must be compared field by field."""
        out = {}
        for name, j in self.joins.items():
            at = j.loc[j["differs"], "_new"].to_numpy(np.int64)
            out[name] = self.prepared[name].iloc[at][list(ENTITIES[name].key)]
        return out


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
    matched = at_old >= 0
    seen = np.zeros(len(before), dtype=bool)
    seen[at_old[matched]] = True
    only_old = np.flatnonzero(~seen)
    active = before["active"].to_numpy(bool)
    old_hash = before["row_hash"].to_numpy(np.int64)
    was_active = np.zeros(len(cur), dtype=bool)
    was_active[matched] = active[at_old[matched]]
    same_hash = np.zeros(len(cur), dtype=bool)
    same_hash[matched] = old_hash[at_old[matched]] == cur["row_hash"].to_numpy(np.int64)[matched]
    none = np.zeros(len(only_old), dtype=bool)
    return pd.DataFrame({
        "_new": np.concatenate([np.arange(len(cur), dtype=np.int64),
                                np.full(len(only_old), -1, np.int64)]),
        "_old": np.concatenate([at_old, only_old]),
        "added": np.concatenate([~matched, none]),
        "vanished": np.concatenate([np.zeros(len(cur), bool), active[only_old]]),
        "reactivated": np.concatenate([matched & ~was_active, none]),
        "differs": np.concatenate([matched & was_active & ~same_hash, none]),
    })


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


def changes(comparison: Comparison, old_rows: dict[str, pd.DataFrame],
            options: DiffOptions) -> ChangeSet:
    """The change set, given the stored values (canonical) of ``comparison.needed()``."""
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
        action = np.full(len(j), None, dtype=object)
        action[j["added"].to_numpy()] = "added"
        action[j["reactivated"].to_numpy()] = "reactivated"
        action[differs] = np.where(real, "changed", "rehash")  # rehash: same values, new hash
        write = pd.notna(action)
        upserts[name] = cur.iloc[j.loc[write, "_new"].to_numpy()].assign(action=action[write])
        vanished_at = j.loc[j["vanished"], "_old"].to_numpy()
        ended[name] = before.iloc[vanished_at][key].reset_index(drop=True)
        if before.empty:
            continue  # first import: no per-row events (see below)

        def keys_at(frame: pd.DataFrame, at: np.ndarray, name: str = name) -> pd.Series:
            return key_of(frame.iloc[at], name).reset_index(drop=True)

        events += [
            _events(name, f"{name}_added", keys_at(cur, j.loc[j["added"], "_new"].to_numpy())),
            _events(name, f"{name}_reactivated",
                    keys_at(cur, j.loc[j["reactivated"], "_new"].to_numpy())),
            _events(name, f"{name}_ended", keys_at(before, vanished_at)),
            *_change_events(name, key_of(now_rows, name)[real], changed_fields[real],
                            now_rows[real]),
        ]
    counts = {name: len(frame) for name, frame in prepared.items()}
    if all(frame.empty for frame in state.values()):
        # A client's first import: one event per entity instead of one per row; the portal
        # reads the tables (and no resident has "moved in" because the portal went live).
        first = pd.DataFrame({"entity": list(ENTITIES), "entity_key": "*",
                              "event": "initial_import"})
        return ChangeSet(upserts, ended, first.reindex(columns=EVENT_COLUMNS), counts)
    residents = _resident_events(*_touched(state, prepared, comparison.joins), options)
    events.append(residents)
    all_events = pd.concat([pd.DataFrame(columns=EVENT_COLUMNS), *(e for e in events if len(e))],
                           ignore_index=True)
    all_events = _drop_membership_noise(all_events, residents)
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


def _events(entity: str, event: str, keys: pd.Series, **extra: object) -> pd.DataFrame:
    return pd.DataFrame({"entity": entity, "entity_key": keys.astype("str"), "event": event,
                         **extra}, index=keys.index)


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
            out.append(_events(entity, event, keys[mask], fields=picked[mask]))
    if entity == "tenancy":  # an end date taken back is an ordinary change
        withdrawn = fields.str.contains("end_date") & rows["end_date"].isna()
        if withdrawn.any():
            out.append(_events(entity, "tenancy_changed", keys[withdrawn], fields="end_date"))
    return out


def _touched(
    old: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame], joins: dict[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Both sides cut down to the people whose memberships came or went, with all of their
    memberships and those memberships' tenancies and units: nobody else can have moved, and
    every decision below is made per person."""
    j = joins["membership"]
    arrived = new["membership"]["person_id"].iloc[
        j.loc[j["added"] | j["reactivated"], "_new"].to_numpy(np.int64)]
    left = old["membership"]["person_id"].iloc[j.loc[j["vanished"], "_old"].to_numpy(np.int64)]
    people = textops.value_set(pd.concat([arrived, left]).drop_duplicates())

    def cut(side: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        members = side["membership"][textops.is_in(side["membership"]["person_id"], people)]
        tenancies = side["tenancy"][textops.is_in(side["tenancy"]["tenancy_id"],
                                                  textops.value_set(members["tenancy_id"]))]
        units = side["unit"][textops.is_in(side["unit"]["unit_id"],
                                           textops.value_set(tenancies["unit_id"].dropna()))]
        persons = side["person"][textops.is_in(side["person"]["person_id"], people)]
        return {"membership": members, "tenancy": tenancies, "unit": units, "person": persons}

    return cut(old), cut(new)


def _resident_events(
    old: dict[str, pd.DataFrame],
    new: dict[str, pd.DataFrame],
    options: DiffOptions,
) -> pd.DataFrame:
    """``moved``, ``moved_in``, ``moved_out`` and ``possible_move`` per person."""
    before = _memberships(old["membership"], old["tenancy"], old["unit"], active_only=True)
    after = _memberships(new["membership"], new["tenancy"], new["unit"])
    pair = ["tenancy_id", "person_id"]
    gained = after.merge(before[pair], on=pair, how="left", indicator=True)
    gained = gained[gained["_merge"] == "left_only"].drop(columns="_merge")
    kept = after.merge(before[pair], on=pair, how="inner")
    lost = before.merge(after[pair], on=pair, how="left", indicator=True)
    lost = lost[lost["_merge"] == "left_only"].drop(columns="_merge")
    if gained.empty and lost.empty and kept["end_date"].isna().all():
        return _events("person", "moved", pd.Series(dtype="str"))

    window = pd.Timedelta(days=options.move_window_days)
    ending = kept[kept["end_date"].notna()]
    candidates = pd.concat([lost.assign(vanished=True), ending.assign(vanished=False)],
                           ignore_index=True)
    pairs = gained.merge(candidates, on="person_id", suffixes=("_to", "_from"))
    pairs = pairs[pairs["unit_id_to"] != pairs["unit_id_from"]]
    near = (pairs["start_date_to"] - pairs["end_date_from"]).abs() <= window
    pairs = pairs[pairs["vanished"] | near.fillna(False).astype(bool)]
    pairs = pairs.assign(
        score=(pairs["usage_type_to"] != pairs["usage_type_from"]).astype(int) * 2
        + (pairs["usage_type_to"] != "living").astype(int)
    ).sort_values(["person_id", "score", "start_date_to"], kind="stable")
    moves = pairs.drop_duplicates("person_id")
    moved = _events(
        "person", "moved", moves["person_id"],
        from_unit=moves["unit_id_from"], to_unit=moves["unit_id_to"],
        from_tenancy=moves["tenancy_id_from"], to_tenancy=moves["tenancy_id_to"],
    )
    moved_ids = textops.value_set(moves["person_id"])
    settled = textops.is_in(gained["person_id"], textops.value_set(before["person_id"]))
    arriving = gained[~(settled | textops.is_in(gained["person_id"], moved_ids))]
    arriving = arriving.drop_duplicates("person_id")
    staying = textops.is_in(lost["person_id"], textops.value_set(after["person_id"]))
    leaving = lost[~(staying | textops.is_in(lost["person_id"], moved_ids))]
    leaving = leaving.drop_duplicates("person_id")
    if not options.stable_person_keys:
        arriving, leaving, possible = _possible_moves(arriving, leaving, old["person"],
                                                      new["person"])
    else:
        possible = _events("person", "possible_move", pd.Series(dtype="str"))
    moved_in = _events("person", "moved_in", arriving["person_id"],
                       to_unit=arriving["unit_id"], to_tenancy=arriving["tenancy_id"])
    moved_out = _events("person", "moved_out", leaving["person_id"],
                        from_unit=leaving["unit_id"], from_tenancy=leaving["tenancy_id"])
    return pd.concat([moved, moved_in, moved_out, possible], ignore_index=True)


def _memberships(
    members: pd.DataFrame, tenancies: pd.DataFrame, units: pd.DataFrame, active_only: bool = False
) -> pd.DataFrame:
    """Membership -> its tenancy's unit, start and end, and the unit's usage type."""
    if active_only:
        members = members[members["active"].astype(bool)]
        tenancies = tenancies[tenancies["active"].astype(bool)]
    t = tenancies[["tenancy_id", "unit_id", "start_date", "end_date"]].copy()
    t["start_date"] = pd.to_datetime(t["start_date"]).astype("datetime64[s]")
    t["end_date"] = pd.to_datetime(t["end_date"]).astype("datetime64[s]")
    u = units[["unit_id", "usage_type"]].drop_duplicates("unit_id")
    out = members[["tenancy_id", "person_id"]].merge(t, on="tenancy_id", how="left")
    return out.merge(u, on="unit_id", how="left")


def _possible_moves(
    arriving: pd.DataFrame, leaving: pd.DataFrame, old_persons: pd.DataFrame,
    new_persons: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Without stable person keys, a leaving and an arriving person with the same name and the
    same email or phone are reported as ``possible_move`` (to be confirmed), not as a move."""
    def people(rows: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
        p = persons[["person_id", "first_name", "last_name", "email", "phone", "mobile"]]
        out = rows.merge(p, on="person_id", how="left")
        out["name"] = (out["first_name"].fillna("").str.lower().str.strip() + "|"
                       + out["last_name"].fillna("").str.lower().str.strip())
        return out

    a, b = people(arriving, new_persons), people(leaving, old_persons)
    matches = []
    for contact in ("email", "phone", "mobile"):
        left = a[a[contact].notna()]
        right = b[b[contact].notna()]
        matches.append(left.merge(right, on=["name", contact], suffixes=("_to", "_from")))
    found = pd.concat(matches, ignore_index=True).drop_duplicates(
        ["person_id_to", "person_id_from"])
    possible = _events(
        "person", "possible_move", found["person_id_to"], related_key=found["person_id_from"],
        from_unit=found["unit_id_from"], to_unit=found["unit_id_to"],
        from_tenancy=found["tenancy_id_from"], to_tenancy=found["tenancy_id_to"],
    )
    arriving = arriving[~arriving["person_id"].isin(found["person_id_to"])]
    leaving = leaving[~leaving["person_id"].isin(found["person_id_from"])]
    return arriving, leaving, possible


def _drop_membership_noise(events: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """A membership that came or went with its tenancy, or with a resident event of its person,
    says nothing new: drop its ``membership_*`` event so that a move stays one event."""
    people = set(residents["entity_key"])
    tenancies = set(events.loc[(events["entity"] == "tenancy") & events["event"].isin(
        ["tenancy_added", "tenancy_ended", "tenancy_reactivated"]), "entity_key"])
    member = (events["entity"] == "membership") & events["event"].isin(
        ["membership_added", "membership_ended", "membership_reactivated"])
    parts = events["entity_key"].str.split("|")
    noise = member & (parts.str[-1].isin(people) | parts.str[0].isin(tenancies))
    return events[~noise].reset_index(drop=True)
