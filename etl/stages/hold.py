"""Stage hold: an export's damaged rows are held back, the rest is imported (``invalid_rows:
hold`` of a source).

A finding that is an error and sits at a data line whose keys are intact damages only the
entities that line brings through the finding's column (all of the line's entities when the
column feeds none): their keys are *held*. What depends on a held entity is held with it — a
property's buildings, a building's units, a unit's tenancies, a tenancy's or a person's
memberships. A held key keeps its last accepted state: the export's rows of it are replaced by
the stored row (`keep_last_state`), so it is neither added, changed, ended nor moved. A finding
that leaves no key to hold by — a broken line, a damaged key, a file or header problem — still
rejects the whole export, as does holding more rows than the source allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.core import textops
from etl.core.model import ENTITIES, Entities

# rules whose rows cannot be held: the line, the key or the file itself is what is broken
# (key.unique is holdable: the key is intact, only its two rows disagree)
_WHOLE = ("row.", "file.", "header.", "manifest.", "encoding.undecodable", "encoding.mixed",
          "export_time.", "dialect.", "load.")
_KEYS = ("key.",)

# child entity -> (its reference field, the parent entity)
_PARENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "building": (("property_id", "property"),),
    "unit": (("building_id", "building"), ("property_id", "property")),
    "tenancy": (("unit_id", "unit"),),
    "membership": (("tenancy_id", "tenancy"), ("person_id", "person")),
}


@dataclass(frozen=True)
class Holding:
    """What an export holds back: per entity, the key columns of the held rows; the lines of
    the source files they came from; the errors that held them."""

    keys: dict[str, pd.DataFrame]
    lines: int
    findings: pd.DataFrame


def holdable(errors: pd.DataFrame, in_key: pd.Series) -> pd.Series:
    """Per error: whether its row can be held (it sits at a data line, and neither the line, a
    key nor the file is what is broken). ``in_key``: per error, whether its column feeds a
    key."""
    rule = errors["rule"].astype("str")
    whole = rule.str.startswith(_WHOLE) | (rule.str.startswith(_KEYS) & (rule != "key.unique"))
    return errors["line"].notna() & ~whole & ~((rule == "required") & in_key)


def hold(entities: Entities, errors: pd.DataFrame) -> Holding:
    """The keys the (holdable) ``errors`` hold back, dependants included."""
    feeds = _feeds(entities)
    held: dict[str, pd.Series] = {}
    for name, frame in entities.frames.items():
        mine = errors[errors["file"] == entities.files[name]]
        hit = np.zeros(len(frame), dtype=bool)
        lines, groups = frame["_line"].to_numpy(), frame["_group"].to_numpy()
        for column, at in mine.groupby(mine["column"].fillna(""), sort=False):
            wanted = feeds.get(str(column))
            on_line = np.isin(lines, at["line"].astype("int64").to_numpy())
            if wanted is None:  # a column no field reads, or none: the whole line
                hit |= on_line
            elif any(e == name for e, _ in wanted):
                hit |= on_line & np.isin(groups, [g for e, g in wanted if e == name])
        held[name] = pd.Series(hit, index=frame.index)
    keys = _cascade(entities, held)
    return Holding(keys, len(errors[["file", "line"]].drop_duplicates()), errors)


def _feeds(entities: Entities) -> dict[str, list[tuple[str, int]]]:
    """Header (as findings name it) -> the (entity, column group) its values feed."""
    out: dict[str, list[tuple[str, int]]] = {}
    for (entity, _field, group), header in entities.lineage.columns.items():
        out.setdefault(header, []).append((entity, group))
    return out


def _cascade(entities: Entities, held: dict[str, pd.Series]) -> dict[str, pd.DataFrame]:
    """The held rows' keys, with every row that refers to a held key held too (parents
    first, so a chain — building, unit, tenancy, membership — is followed to its end)."""
    keys: dict[str, pd.DataFrame] = {}
    for name in ENTITIES:  # the canonical order lists parents before their children
        frame, key = entities.frames[name], list(ENTITIES[name].key)
        mask = held[name].to_numpy().copy()
        for field, parent in _PARENTS.get(name, ()):
            parent_keys = textops.value_set(keys[parent][ENTITIES[parent].key[0]])
            mask |= textops.is_in(frame[field], parent_keys).to_numpy()
        picked = frame.loc[mask, key].drop_duplicates()
        # every row sharing a held key is held (two rows of one key disagreeing: key.unique)
        every = textops.is_in(_key_text(frame, key), textops.value_set(_key_text(picked, key)))
        keys[name] = frame.loc[every.to_numpy(), key].drop_duplicates().reset_index(drop=True)
    return keys


def _key_text(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """One text per row for a (composite) key."""
    return pd.Series(textops.composite([frame[k] for k in key]), index=frame.index, dtype="str")


def allowed(entities: Entities, max_rows: int, max_share: float) -> int:
    """How many damaged lines the source's limits allow holding back: at most ``max_rows``,
    and at most ``max_share`` of the lines that brought any entity."""
    lines = sum(
        len(pd.unique(np.concatenate([f["_line"].to_numpy() for n, f in entities.frames.items()
                                      if entities.files[n] == file])))
        for file in set(entities.files.values()))
    return min(max_rows, int(max_share * lines))


def keep_last_state(prepared: dict[str, pd.DataFrame], holding: Holding,
                    state: dict[str, pd.DataFrame],
                    stored: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The export with every held key's rows replaced by its last accepted state: the stored
    row where it is active (``stored``: its canonical fields, read for ``holding.keys``), no
    row where it is not stored or ended."""
    out = {}
    for name, cur in prepared.items():
        held = holding.keys[name]
        if held.empty:
            out[name] = cur
            continue
        key = list(ENTITIES[name].key)
        keep = ~textops.is_in(_key_text(cur, key), textops.value_set(_key_text(held, key)))
        active = state[name][state[name]["active"].astype(bool)][[*key, "row_hash"]]
        last = stored[name].merge(active, on=key, how="inner")
        out[name] = pd.concat([cur[keep.to_numpy()], last[cur.columns]], ignore_index=True)
    return out


def as_held(found: pd.DataFrame, holding: Holding) -> pd.DataFrame:
    """The findings with the errors that held rows back marked ``held``."""
    at = found.index.isin(holding.findings.index)
    return found.assign(severity=np.where(at, "held", found["severity"]))
