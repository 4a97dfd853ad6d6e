"""Stage moves: residents' events, worked out from memberships.

A person whose tenancy of unit A ends (vanishes now, or has an end date near the new start) while
a tenancy of unit B of the same client starts has moved — one ``moved`` event, not a move-out
plus a move-in; otherwise ``moved_in`` / ``moved_out``. Without stable person keys, a leaving and
an arriving person with the same name and contact are a ``possible_move`` to be confirmed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from etl.core import textops
from etl.core.changes import EVENT_COLUMNS, ChangeSet, Comparison, DiffOptions, event_rows
from etl.core.model import ENTITIES

# What the resident events need of the stored state besides keys, hashes and the active flag;
# everything else is read only for the few rows whose hash differs (`etl.store`).
STATE_FIELDS = {"unit": ("usage_type",), "tenancy": ("unit_id", "start_date", "end_date")}
PERSON_DETAILS = ("first_name", "last_name", "company_name", "email", "phone", "mobile")


def state_fields(options: DiffOptions) -> dict[str, list[str]]:
    """Per entity, the fields to read of every stored row: the key and what moves need."""
    out = {}
    for name, entity in ENTITIES.items():
        extra = STATE_FIELDS.get(name, ())
        if name == "person" and not options.stable_person_keys:
            extra = PERSON_DETAILS
        out[name] = [*entity.key, *extra]
    return out


def add_resident_events(changes: ChangeSet, comparison: Comparison,
                        options: DiffOptions) -> ChangeSet:
    """The change set with its residents' events; a membership event that a resident event
    explains is dropped, so that a move stays one event. Nothing on a client's first import."""
    if comparison.first_import:
        return changes
    residents = _resident_events(*_touched(comparison.state, comparison.prepared,
                                           comparison.joins), options)
    events = pd.concat([changes.events, *([residents] if len(residents) else [])],
                       ignore_index=True)
    events = _drop_membership_noise(events, residents)
    return replace(changes, events=events.reindex(columns=EVENT_COLUMNS))


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
        return event_rows("person", "moved", pd.Series(dtype="str"))

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
    moved = event_rows(
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
        possible = event_rows("person", "possible_move", pd.Series(dtype="str"))
    moved_in = event_rows("person", "moved_in", arriving["person_id"],
                       to_unit=arriving["unit_id"], to_tenancy=arriving["tenancy_id"])
    moved_out = event_rows("person", "moved_out", leaving["person_id"],
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
        out = rows.merge(persons[["person_id", *PERSON_DETAILS]], on="person_id", how="left")
        out["name"] = textops.join([out[f].fillna("").str.lower().str.strip()
                                    for f in ("first_name", "last_name", "company_name")], "|")
        return out

    a, b = people(arriving, new_persons), people(leaving, old_persons)
    matches = []
    for contact in ("email", "phone", "mobile"):
        left = a[a[contact].notna()]
        right = b[b[contact].notna()]
        matches.append(left.merge(right, on=["name", contact], suffixes=("_to", "_from")))
    found = pd.concat(matches, ignore_index=True).drop_duplicates(
        ["person_id_to", "person_id_from"])
    possible = event_rows(
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
    people = textops.value_set(residents["entity_key"].astype("str"))
    tenancies = textops.value_set(events.loc[(events["entity"] == "tenancy") & events[
        "event"].isin(["tenancy_added", "tenancy_ended", "tenancy_reactivated"]),
        "entity_key"].astype("str"))
    member = ((events["entity"] == "membership") & events["event"].isin(
        ["membership_added", "membership_ended", "membership_reactivated"])).to_numpy()
    keys = textops.arrow(events.loc[member, "entity_key"].astype("str"))  # "tenancy|person"
    person = pc.list_element(pc.split_pattern(keys, "|", max_splits=1, reverse=True), 1)
    tenancy = pc.list_element(pc.split_pattern(keys, "|", max_splits=1), 0)
    noise = member.copy()
    noise[member] = textops.flags(pc.or_(pc.is_in(person, value_set=people),
                                         pc.is_in(tenancy, value_set=tenancies)))
    return events[~noise].reset_index(drop=True)
