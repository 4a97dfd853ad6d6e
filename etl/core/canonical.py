"""Core: the canonical form of ERP-owned fields and the row hash over it.

The export side (diff) and the stored side (store) put rows into this one representation before
they compare or hash them, so that a value read back from the database equals the value mapped
from a file.
"""

from __future__ import annotations

import pandas as pd

from etl.core import hashing
from etl.core.model import ENTITIES, Kind

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
