"""Pipeline, the next export in proportion to its change (issue 13): only the data lines the
last accepted export did not have are read, mapped and validated; every other line gives what
it gave then — its keys are stored (``etl_lines``: a 64-bit hash per line and the keys it gave
per entity) and its rows are the client's stored state.

What a whole read would check across lines is checked over keys:
- a key that a changed line gives and an unchanged line gives too must have the stored row
  (else two rows of one key differ: the whole read reports it);
- references of changed rows are valid against the keys of the whole export;
- a key that no line gives any more must not be referred to by an unchanged row.

The shortcut is taken only when its outcome is the whole read's: the last accepted export was
clean and read the same way (`etl.pipeline.unchanged.fingerprint`), the client's state is the
one stored with its lines, each file reads the same line by line as whole (`read.delta`) in the
last one's encoding and header, the export's time is not read from a column, no client codes
are filtered — and the changed lines are clean. Anything else, and the whole export is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.core import findings, textops
from etl.core.changes import Comparison
from etl.core.exports import ExportFile
from etl.core.mapping_format import Mapping
from etl.core.model import ENTITIES, SourceTable
from etl.core.packed import Packed
from etl.core.severity import severities
from etl.pipeline import unchanged
from etl.pipeline.check import CheckResult, assign_roles, conclude, rows_on_their_own
from etl.pipeline.linekeys import Hashed, LineKeys
from etl.pipeline.stamps import export_time
from etl.stages import diff
from etl.stages.map import map_entities
from etl.stages.read import head_of
from etl.stages.read.delta import Lines, data_lines, read_lines
from etl.stages.read.encoding import line_local
from etl.stages.validate import validate

# More changed lines than this share of the file: the whole read is as quick.
MAX_CHANGED_SHARE = 0.5
# What refers to what: (entity, field) -> the entity whose key it names.
REFERENCES = {("building", "property_id"): "property", ("unit", "building_id"): "building",
              ("unit", "property_id"): "property", ("tenancy", "unit_id"): "unit",
              ("membership", "tenancy_id"): "tenancy", ("membership", "person_id"): "person"}


@dataclass(frozen=True)
class Delta:
    """The changed lines of an export, checked: their entities (``checked``), the keys only
    lines gone since gave, and the lines to store once it is applied — packed: the diff that
    follows does not need them (at 800k rows, 16 MB packed instead of ~90 MB)."""

    checked: CheckResult
    lost: dict[str, pa.Array]  # per entity: the keys the lines gone since gave, and no other
    lines: dict[str, Packed]
    token: str  # the client's stored state the lines belong to (`etl.store.lines`)


def packed_lines(checked: CheckResult) -> dict[str, Packed] | None:
    """The lines to store of a clean export read whole (`etl.pipeline.linekeys`); None when the
    next one could not be read by its changed lines (see `check_changed`)."""
    packed = checked.lines
    if checked.entities is None or not packed or None in packed.values():
        return None
    return {role: lines.result() for role, lines in packed.items()}


def check_changed(files: list[ExportFile], mapping: Mapping, stored: dict[str, pa.Table],
                  token: str, dialect: dict[str, dict], severity: dict[str, str]
                  ) -> Delta | None:
    """The export's changed lines read, mapped and validated — None when the shortcut cannot
    give the whole read's outcome (see the module), or the changed lines have findings."""
    roles, problems = assign_roles([f.path for f in files], mapping, {})
    if problems or not rows_on_their_own(mapping):
        return None
    tables, bodies, kept, removed, fresh = {}, {}, {}, {}, {}
    for role, path in roles.items():
        read = _changed_lines(next(f for f in files if f.path == path), role, mapping,
                              stored.get(role), dialect.get(role, {}))
        unchanged.forget()  # the file's bytes: its changed lines are read
        if read is None:
            return None
        tables[role], bodies[role], kept[role], removed[role], fresh[role] = read
    stamp, found = export_time(mapping, tables)
    form = {role: {"encoding": t.encoding, "delimiter": mapping.dialect.delimiter,
                   "header": list(t.header)} for role, t in tables.items()}
    # the lines to store: the kept ones, then these
    given = LineKeys({role: Hashed.of(lines) for role, lines in fresh.items()}, mapping, kept)
    try:
        entities, mapped = map_entities(mapping, tables, given.part)  # takes the tables
    finally:
        store = given.close()
    if not (found.empty and mapped.empty):
        return None
    keys = {name: _keys(name, mapping, kept) for name in ENTITIES}
    judged = conclude([validate(entities, keys)],
                      mapping, severities(mapping.rules, severity))
    if not judged.empty:
        return None
    checked = CheckResult(mapping.name, tuple(f.name for f in files), entities,
                          findings.empty(), form, stamp, bodies)
    gone = {name: pc.unique(_keys(name, mapping, removed)) for name in ENTITIES}
    lost = {name: pc.filter(gone[name], pc.invert(textops.among(gone[name], keys[name])))
            for name in ENTITIES}
    return Delta(checked, lost, {role: packed.result() for role, packed in store.items()
                                 if packed is not None}, token)


def _changed_lines(file: ExportFile, role: str, mapping: Mapping, stored: pa.Table | None,
                   form: dict
                   ) -> tuple[SourceTable, str | None, pa.Table, pa.Table, Lines] | None:
    """One file's changed lines read (a table of them, clean), its body digest, the stored lines
    it still has and those it has not, and the changed lines; None when they cannot be read on
    their own."""
    try:
        data = unchanged.read(file)
    except OSError:  # the whole read reports it
        return None
    encoding = line_local(data, mapping.dialect.encoding)
    columns = mapping.columns(role)
    head = (head_of(data, file.name, columns, mapping.dialect, encoding)
            if encoding and encoding == form.get("encoding") and stored is not None else None)
    lines = data_lines(data, head[0], mapping.dialect, encoding) if head else None
    if lines is None or head is None or stored is None or not len(lines.numbers):
        return None
    before = stored["hash"].to_numpy()
    changed = ~pd.Series(lines.hashes).isin(before).to_numpy()  # int64: pandas' hash table
    if changed.sum() > MAX_CHANGED_SHARE * len(changed):
        return None
    pick = np.flatnonzero(changed)
    read = read_lines(data, lines, pick, file.name, role, columns, mapping.dialect, encoding,
                      head[1])
    if read is None or not read[1].empty or list(read[0].header) != form.get("header"):
        return None
    still = pd.Series(before).isin(lines.hashes).to_numpy()
    fresh = Lines(lines.numbers[pick], lines.starts[pick], lines.ends[pick], lines.hashes[pick],
                  lines.header, lines.header_line)
    return (read[0], unchanged.body_of(file, data, head[0], encoding), stored.filter(still),
            stored.filter(~still), fresh)


def _keys(name: str, mapping: Mapping, lines: dict[str, pa.Table]) -> pa.ChunkedArray:
    """The keys of ``name`` that these stored lines give (a key given by several lines, several
    times)."""
    spec = mapping.entities.get(name)
    if spec is None:
        return pa.chunked_array([], pa.large_string())
    table = lines[spec.from_]
    columns = [f"{name}.{n}" for n in spec.repeat or (0,)]
    return pa.chunked_array([chunk for c in columns for chunk in table[c].chunks],
                            table.schema.field(columns[0]).type).drop_null()


def whole(delta: Delta, state: dict[str, pd.DataFrame], changed: dict[str, pd.DataFrame]
          ) -> Comparison | None:
    """The whole export compared with the stored state (`stages.diff.compare`): the stored rows
    of the keys the unchanged lines give, unchanged, and the changed lines' rows (``changed``,
    prepared) classified. None when the whole read would find what the changed lines alone do
    not (see the module).

    Every lookup builds its hash table over the few keys (the gone lines', the changed rows'),
    never over the client's: a stored active row is kept unless only gone lines gave it."""
    out, gone, joins = {}, {}, {}
    for name, entity in ENTITIES.items():
        stored, rows, lost = state[name], changed[name], delta.lost[name]
        keys = textops.composite([stored[k] for k in entity.key])
        active = stored["active"].to_numpy(bool)
        keep = active & ~textops.flags(textops.among(keys, lost))
        found = pc.index_in(keys, value_set=textops.composite([rows[k] for k in entity.key]))
        hit = np.flatnonzero(textops.flags(pc.is_valid(found)))
        at = np.full(len(rows), -1, np.int64)  # per changed row: its stored row, or -1
        at[pc.take(found, pa.array(hit)).to_numpy()] = hit
        both = np.zeros(len(rows), bool)
        both[at >= 0] = keep[at[at >= 0]]
        hashes, fresh = stored["row_hash"].to_numpy(np.int64), rows["row_hash"].to_numpy(np.int64)
        if (hashes[at[both]] != fresh[both]).any():
            return None  # a key of an unchanged line now with other values: two rows, one key
        still = keep.copy()
        still[hit] = True
        gone[name] = textops.value_set(stored.loc[active & ~still, entity.key[0]])
        kept_rows = np.flatnonzero(keep)
        out[name] = pd.concat([_widened((stored if keep.all() else stored.iloc[kept_rows]).drop(
            columns="active"), rows), rows[~both]], ignore_index=True)
        joins[name] = diff.classified(
            np.concatenate([kept_rows, at[~both]]), stored,
            np.concatenate([hashes[kept_rows], fresh[~both]]))
    return Comparison(out, state, joins) if _references_hold(out, state, gone) else None


def _widened(part: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``part`` with the columns of ``like`` it lacks (the fields the state does not hold),
    missing throughout: one array of missing values per type, shared by its columns (Arrow's
    arrays do not change) — `pd.concat` would make each by a take of as many indices as rows
    (0.18 s for a person's nine text fields at 800k rows)."""
    missing = [c for c in like.columns if c not in part]
    nulls: dict[object, object] = {}
    for c in missing:
        dtype = like[c].dtype
        if dtype not in nulls:
            nulls[dtype] = _nulls(len(part), dtype)
    return part.assign(**{c: nulls[like[c].dtype] for c in missing}) if missing else part


def _nulls(n: int, dtype: object) -> object:
    """``n`` missing values of a canonical column's type (text, number or date)."""
    if isinstance(dtype, np.dtype):
        return np.full(n, np.datetime64("NaT") if dtype.kind == "M" else np.nan, dtype)
    return pd.array(pa.nulls(n, pa.large_string()), dtype=dtype)


def _references_hold(rows: dict[str, pd.DataFrame], state: dict[str, pd.DataFrame],
                     gone: dict[str, pa.Array]) -> bool:
    """Whether no row refers to a key that no line gives any more (``gone``): the changed
    lines' rows were validated against the whole export's keys; the stored rows are checked
    here where the state holds the field — where it does not, such a key sends the export to the
    whole read."""
    for (name, field_name), target in REFERENCES.items():
        if not len(gone[target]):
            continue
        if field_name not in state[name]:
            return False
        if textops.is_in(rows[name][field_name].dropna(), gone[target]).any():
            return False
    return True
