"""Core: the plain data of the change logic — how a client's stored rows compare with an export
(``Comparison``), what applying it changes (``ChangeSet``), and the rows of change events."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.core.model import ENTITIES

EVENT_COLUMNS = ["entity", "entity_key", "event", "fields", "from_unit", "to_unit",
                 "from_tenancy", "to_tenancy", "related_key"]


def event_rows(entity: str, event: str, keys: pd.Series, **extra: object) -> pd.DataFrame:
    """Change events of one type, one per key (``extra``: further event columns)."""
    return pd.DataFrame({"entity": entity, "entity_key": keys.astype("str"), "event": event,
                         **extra}, index=keys.index)


@dataclass(frozen=True)
class DiffOptions:
    """How moves are recognised."""

    move_window_days: int = 62  # |new start - old end| allowed for a move (gap or overlap)
    stable_person_keys: bool = True  # False: same name + email/phone is only a possible move


@dataclass(frozen=True)
class Comparison:
    """The export's rows classified against the stored state, before any values are compared."""

    prepared: dict[str, pd.DataFrame]  # the export in canonical form, with row hashes
    state: dict[str, pd.DataFrame]  # the client's stored rows (keys, hashes, active)
    joins: dict[str, pd.DataFrame]  # per entity: _new / _old positions and the row classes

    def needed(self) -> dict[str, pd.DataFrame]:
        """Keys of the stored rows whose values must be compared field by field."""
        out = {}
        for name, j in self.joins.items():
            at = j.loc[j["differs"], "_new"].to_numpy(np.int64)
            out[name] = self.prepared[name].iloc[at][list(ENTITIES[name].key)]
        return out

    @property
    def first_import(self) -> bool:
        """Nothing of the client is stored yet."""
        return all(frame.empty for frame in self.state.values())


@dataclass(frozen=True)
class ChangeSet:
    """What one export changes for its client: rows to write, keys to end, events to append."""

    upserts: dict[str, pd.DataFrame]  # fields + row_hash + action (added/changed/reactivated/…)
    ended: dict[str, pd.DataFrame]  # keys of rows that vanished from the export
    events: pd.DataFrame  # EVENT_COLUMNS
    counts: dict[str, int]  # rows per entity in the export

    def summary(self) -> dict[str, int]:
        """Events per type."""
        return {str(k): int(v) for k, v in self.events["event"].value_counts().sort_index().items()}

    @classmethod
    def nothing(cls, counts: dict[str, int]) -> ChangeSet:
        """The change set of an export whose content equals the last accepted one."""
        return cls({}, {}, pd.DataFrame(columns=EVENT_COLUMNS), counts)

    @classmethod
    def merged(cls, sets: list[ChangeSet]) -> ChangeSet:
        """Several clients' change sets as one (for a report that shows them together)."""
        def joined(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
            names = dict.fromkeys(n for part in parts for n in part)
            return {n: pd.concat([p[n] for p in parts if n in p], ignore_index=True)
                    for n in names}

        counts: Counter[str] = Counter()
        for s in sets:
            counts.update(s.counts)  # update, not +: an entity with no rows stays (0)
        return cls(joined([s.upserts for s in sets]), joined([s.ended for s in sets]),
                   pd.concat([s.events for s in sets], ignore_index=True), dict(counts))

    @property
    def rows_to_write(self) -> int:
        return sum(map(len, self.upserts.values())) + sum(map(len, self.ended.values()))

    def written(self) -> dict[str, int]:
        """Rows written per entity (added, changed or reactivated)."""
        return {name: len(rows) for name, rows in self.upserts.items() if len(rows)}

    def ended_counts(self) -> dict[str, int]:
        """Rows ended per entity."""
        return {name: len(keys) for name, keys in self.ended.items() if len(keys)}

    def fingerprint(self) -> str:
        """SHA-256 of everything this change set writes — rows (with their hashes), ended keys,
        events — in a stable order: a saved plan is applied only if the same computation gives
        the same fingerprint."""
        digest = hashlib.sha256()
        parts = [*((f"upsert:{k}", v) for k, v in sorted(self.upserts.items())),
                 *((f"ended:{k}", v) for k, v in sorted(self.ended.items())),
                 ("events", self.events)]
        for label, frame in parts:
            if not len(frame):
                continue
            ordered = frame[sorted(frame.columns)].astype("string")
            ordered = ordered.sort_values(list(ordered.columns)).reset_index(drop=True)
            digest.update(label.encode())
            digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
        return digest.hexdigest()


def active_counts(state: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Active rows per entity of a client's stored state."""
    return {name: int(frame["active"].sum()) for name, frame in state.items()}
