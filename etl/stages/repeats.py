"""Stage map, the repeats: a flat export repeats a unit on every resident's row; an entity keeps
the first of rows that are the same in every field. A file mapped in parts (`map.CHUNK_ROWS`)
gets its rows back in the order mapping it whole gives them."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.core import hashing, textops
from etl.core.model import Entity


def drop_repeats(frame: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """Drop exact repeats (a flat export repeats a unit on each resident's row), keeping the first.

    Repeats of a flat export sit on neighbouring rows, so those go first by comparing each row
    with the one before; then only rows whose key still occurs twice need the full comparison.
    """
    fields = entity.field_names
    if len(frame) > 1:
        same = np.logical_and.reduce([_same_as_previous(frame[f]) for f in fields])
        if same.any():
            frame = frame[~same]
    if hashing.all_distinct([frame[k] for k in entity.key]):
        return frame.reset_index(drop=True)
    shared_key = frame.duplicated(subset=list(entity.key), keep=False)
    if not shared_key.any():
        return frame.reset_index(drop=True)
    repeat = frame[shared_key].duplicated(subset=entity.field_names, keep="first")
    return frame.drop(index=repeat[repeat].index).reset_index(drop=True)


def _same_as_previous(values: pd.Series) -> np.ndarray:
    """Per row: equal to the row before it (missing equals missing; the first row: False).
    Compares two views of one array, without shifting a copy of the column."""
    if pd.api.types.is_string_dtype(values):
        column = textops.arrow(values)
        cur, prev = column[1:], column[:-1]
        both_missing = pc.and_(cur.is_null(), prev.is_null())
        same = pc.or_(pc.fill_null(pc.equal(cur, prev), False), both_missing)
        pairs = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    else:
        array = values.to_numpy()
        missing = pd.isna(array)
        pairs = (array[1:] == array[:-1]) | (missing[1:] & missing[:-1])
    return np.concatenate([[False], pairs])


def joined(parts: list[pd.DataFrame], groups: tuple[int, ...] | list[int], entity: Entity
           ) -> pd.DataFrame:
    """The rows an entity got from the parts of a file, each part without its repeats already
    (`drop_repeats`: a row that repeats one before it in its part repeats it in the whole file
    too), as mapping the file whole gives them: column group by column group, each in line
    order, without repeats. One part (a file mapped whole) is taken as it is. ``parts`` is
    emptied: each part's rows are let go as they are joined."""
    parts[:] = [p for p in parts if len(p)] or parts[:1]  # the caller's list: it lets go too
    if len(parts) == 1:
        return parts.pop()
    runs: dict[int, list[pd.DataFrame]] = {n: [] for n in groups}
    while parts:
        out = parts.pop(0)
        group = out["_group"].to_numpy()
        cuts = [0, *(np.flatnonzero(group[1:] != group[:-1]) + 1).tolist(), len(out)]
        for start, end in itertools.pairwise(cuts):
            runs[int(group[start])].append(out.iloc[start:end])
    ordered = [frame for n in groups for frame in runs.pop(n)]
    frame = drop_repeats(pd.concat(ordered, ignore_index=True), entity)
    del ordered  # the parts' text: each column's pieces let go as it is joined
    return _contiguous(frame)


def _contiguous(frame: pd.DataFrame) -> pd.DataFrame:
    """Each text column in one piece, as mapping the file whole leaves it: the checks that
    follow take a third longer over columns in pieces. One column is copied at a time."""
    for name in frame.columns:
        if pd.api.types.is_string_dtype(frame[name]):
            column = textops.arrow(frame[name])
            if isinstance(column, pa.ChunkedArray) and column.num_chunks > 1:
                frame[name] = pd.Series(column.combine_chunks(), dtype="str", index=frame.index)
    return frame
