"""Stage map: source tables -> canonical entities, driven only by the mapping YAML.

Per source column: Excel-damage checks on keys, zero padding, value maps, splitting combined
fields ("PLZ Ort"), separating several values in one field. Per entity: composing keys, column
groups (tenant 1..4 side by side), typing dates and numbers, and dropping the exact duplicates a
flat export repeats on every resident's row. Values that cannot be mapped become findings; the
entity frames keep their source file and line in provenance columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from etl.core import countries, findings, textops
from etl.core.exports import printable
from etl.core.mapping_format import (
    Coalesce,
    Column,
    Const,
    EntitySpec,
    Join,
    Mapping,
    PerGroup,
    expression_sources,
)
from etl.core.meanwhile import each
from etl.core.model import ENTITIES, LINE, PROVENANCE, Entities, Kind, Lineage, SourceTable
from etl.core.trim import trim
from etl.stages.repeats import drop_repeats, joined
from etl.stages.typed import to_date, to_decimal

_SCIENTIFIC = r"^[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+$"
# characters that show as nothing: zero-width space/joiners, direction marks and embeddings,
# word joiner and invisible operators, byte order mark, soft hyphen, Mongolian vowel separator
_INVISIBLE = "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad\u180e]"


# Rows of a file mapped at a time: a larger file is mapped in parts, each let go of its source
# text once mapped, so that the text and the entities are not held whole together (800k rows:
# ~230 MB less at the peak). A file of fewer rows is mapped in one go.
CHUNK_ROWS = 200_000

# Told the rows each entity got from a part of a file: (file role, the part's last line — None
# for the file's last part —, per entity its rows' key columns and provenance, repeats included).
Produced = Callable[[str, int | None, dict[str, pd.DataFrame]], None]


def map_entities(mapping: Mapping, tables: dict[str, SourceTable],
                 produced: Produced | None = None) -> tuple[Entities, pd.DataFrame]:
    """Canonical entity frames and the findings of mapping (bad keys, dates, numbers, codes).

    The tables are taken out of ``tables`` as they are mapped (their rows are let go part by
    part): the entities and findings are those of mapping each file whole. ``produced`` is
    told, part by part, the rows (key and provenance) each entity got from a file's lines,
    repeats included (`Produced`)."""
    problems: list[pd.DataFrame] = []
    key_sources = _key_sources(mapping)
    files = {name: tables[spec.from_].file for name, spec in mapping.entities.items()}
    lineage: dict[tuple[str, str, int], str] = {}
    parts: dict[str, list[pd.DataFrame]] = {}  # per entity, per part: its rows, repeats dropped
    for role in list(tables):
        table = tables.pop(role)
        rest, table = table.frame, replace(table, frame=table.frame.iloc[:0])
        specs = {n: spec for n, spec in mapping.entities.items() if spec.from_ == role}
        while True:
            chunk, rest = rest.iloc[:CHUNK_ROWS], rest.iloc[CHUNK_ROWS:]
            last = None if rest.empty else int(chunk["_line"].iloc[-1])
            frame, found, headers = _prepare(mapping, replace(table, frame=chunk),
                                             key_sources.get(role, set()))
            del chunk  # the part's source text: only its prepared fields are needed now
            problems.append(found)
            given = {}
            for name, (keys, kept, found) in _mapped(mapping, list(specs), frame, headers,
                                                     lineage, table.file):
                given[name] = keys
                parts.setdefault(name, []).append(kept)
                problems.append(found)
            del frame
            if produced is not None:
                produced(role, last, given)
            del given
            trim()  # what mapping the part freed
            if rest.empty:
                break
    frames = {name: joined(parts.pop(name), spec.repeat or (0,), ENTITIES[name])
              for name, spec in mapping.entities.items()}
    out = findings.concat(problems).drop_duplicates(["file", "line", "column", "rule"])
    return Entities(frames, Lineage(lineage), files), findings.normalise(out)


def _mapped(mapping: Mapping, names: list[str], frame: pd.DataFrame, headers: dict[str, str],
            lineage: dict[tuple[str, str, int], str], file: str
            ) -> list[tuple[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]]:
    """Per entity of a part: its rows' keys and provenance (repeats included), its rows with
    repeats dropped, and its findings — two entities at a time (`etl.core.meanwhile.each`)."""

    def entity(name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        out, found = _extract(mapping, name, mapping.entities[name], frame, headers, lineage,
                              file)
        return out[[*ENTITIES[name].key, *PROVENANCE]], drop_repeats(out, ENTITIES[name]), found

    return list(zip(names, each(entity, names, len(frame) * len(names)), strict=True))


def _key_sources(mapping: Mapping) -> dict[str, set[str]]:
    """Per file, the source fields that feed a key (*_id): they get the Excel-damage checks."""
    out: dict[str, set[str]] = {}
    for spec in mapping.entities.values():
        for fname, expr in spec.fields.items():
            if not fname.endswith("_id"):
                continue
            for src in expression_sources(expr):
                for n in spec.repeat or (0,):
                    out.setdefault(spec.from_, set()).add(src.format(n=n))
    return out


def _prepare(
    mapping: Mapping, table: SourceTable, keys: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Apply every column's cleaning; returns source fields, findings, field -> header."""
    frame = table.frame
    out = {"_line": frame["_line"]}
    headers: dict[str, str] = {}
    problems: list[pd.DataFrame] = []
    for name, col in mapping.columns(table.role).items():
        header = table.headers.get(name, col.header)
        values = frame[name] if name in frame else pd.Series("", index=frame.index, dtype="str")
        values, found = _clean_column(mapping, col, values, name in keys)
        problems += [
            findings.make(rule, file=table.file, line=frame.loc[mask, "_line"], column=header,
                          value=frame.loc[mask, name].map(printable) if rule == "key.invisible"
                          else frame.loc[mask, name], **params)
            for rule, mask, params in found
        ]
        out[name] = values
        headers[name] = header
        if col.split:
            groups = list(re.compile(col.split).groupindex)
            parts = textops.per_distinct(
                values, lambda v, c=col.split, g=groups: textops.extract(v, c, g))
            bad = (values != "") & parts.isna().any(axis=1)
            if bad.any():
                problems.append(findings.make(
                    "split.format", file=table.file, line=frame.loc[bad, "_line"],
                    column=header, value=values[bad],
                    parts=" + ".join(re.compile(col.split).groupindex)))
            for group in parts.columns:
                out[group] = parts[group].fillna("").astype("str").str.strip()
                headers[group] = header
        if col.list:
            parts = textops.split_first(values, col.list)
            out[name] = parts["first"]
            out[f"{name}_more"] = parts["rest"]
            headers[f"{name}_more"] = header
    return pd.DataFrame(out), findings.concat(problems), headers


def _clean_column(
    mapping: Mapping, col: Column, values: pd.Series, is_key: bool
) -> tuple[pd.Series, list[tuple[str, pd.Series, dict[str, object]]]]:
    found: list[tuple[str, pd.Series, dict[str, object]]] = []
    filled = values != ""
    if is_key:
        sci = textops.fullmatch(values, _SCIENTIFIC)
        if sci.any():
            found.append(("key.excel_scientific", sci, {}))
        if not textops.all_ascii(values):  # keys are ASCII nearly always: no regex then
            invisible = textops.contains(values, _INVISIBLE)
            if invisible.any():  # one resident would silently become two
                found.append(("key.invisible", invisible, {}))
        if col.width:
            short = filled & (values.str.len() < col.width) & ~sci
            if short.any():
                found.append(("key.leading_zeros", short, {"width": col.width}))
    if col.pad:
        values = values.where(~filled, values.str.pad(col.pad, side="left", fillchar="0"))
    if col.map:
        vmap = mapping.value_maps[col.map]
        table = {k.strip().lower(): v for k, v in vmap.values.items()}

        def lookup(distinct: pd.Series) -> pd.Series:
            mapped = distinct.str.lower().map(table)
            for pattern, value in vmap.patterns.items():  # in order, for the codes still open
                mapped = mapped.mask(mapped.isna() & textops.fullmatch(
                    distinct.str.strip(), f"(?i:{pattern})"), value)
            if vmap.default is not None:
                mapped = mapped.fillna(vmap.default)
            return mapped.where(distinct != "", "")

        mapped = textops.per_distinct(values, lookup)
        unknown = mapped.isna()
        if unknown.any():
            allowed = ", ".join([*vmap.values, *vmap.patterns])
            found.append(("value.unknown", unknown, {"allowed": allowed}))
        values = mapped.fillna("").astype("str")
    return values, found


def _extract(
    mapping: Mapping,
    name: str,
    spec: EntitySpec,
    frame: pd.DataFrame,
    headers: dict[str, str],
    lineage: dict[tuple[str, str, int], str],
    file: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    entity = ENTITIES[name]
    groups = spec.repeat or (0,)
    parts = []
    for position, n in enumerate(groups):
        part = {"_line": frame["_line"], "_group": np.full(len(frame), n, LINE)}
        for fname, expr in spec.fields.items():
            part[fname], lineage[(name, fname, n)] = _evaluate(
                mapping, expr, frame, headers, n, position
            )
        rows = pd.DataFrame(part, index=frame.index)
        parts.append(rows[_selected(spec, frame, n)] if spec.where else rows)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    problems = []
    for f in entity.fields:
        if f.name not in out:
            out[f.name] = ""
        raw = out[f.name].astype("str")
        if f.kind is Kind.TEXT:
            out[f.name] = textops.empty_to_na(raw)
            if f.name == "country":  # DE, DEU or 276 -> DE; empty: the mapping's country
                out[f.name] = countries.normalise(out[f.name], mapping.country)
            continue
        if f.kind is Kind.DATE:
            typed = textops.per_distinct(raw, lambda v: to_date(v, mapping))
            rule, params = "date.format", {
                "formats": mapping.dialect.date_formats_for_people
            }
        else:
            typed = textops.per_distinct(raw, lambda v: to_decimal(v, mapping))
            rule, params = "number.format", {"decimal": mapping.dialect.decimal}
        out[f.name], bad = typed["value"], typed["bad"]
        if bad.any():
            column = out.loc[bad, "_group"].map(lambda g, f=f: lineage[(name, f.name, g)])
            problems.append(findings.make(rule, file=file, line=out.loc[bad, "_line"],
                                          column=column.astype("str"), value=raw[bad], **params))
    return out[[*entity.field_names, *PROVENANCE]], findings.concat(problems)


def _selected(spec: EntitySpec, frame: pd.DataFrame, n: int) -> np.ndarray:
    """The rows every condition of ``where`` holds for (whole columns at a time)."""
    keep = np.ones(len(frame), dtype=bool)
    for condition in spec.where:
        keep &= condition.holds(frame[condition.field.format(n=n)].fillna("")).to_numpy()
    return keep


def _evaluate(
    mapping: Mapping,
    expr: str | Join | Const | PerGroup | Coalesce,
    rows: pd.DataFrame,
    headers: dict[str, str],
    n: int,
    position: int,
) -> tuple[pd.Series | str, str]:
    """A field's values and the header(s) it came from."""
    if isinstance(expr, Const):
        return expr.const, "(Konstante)"
    if isinstance(expr, PerGroup):
        return expr.per_group[position], "(Spaltengruppe)"
    if isinstance(expr, str):
        src = expr.format(n=n)
        return rows[src], headers[src]
    if isinstance(expr, Coalesce):  # the first that is not empty, whole columns at a time
        srcs = [s.format(n=n) for s in expr.coalesce]
        first = rows[srcs[-1]]
        for src in reversed(srcs[:-1]):
            first = rows[src].where(rows[src].fillna("") != "", first)
        return first, " / ".join(headers[s] for s in srcs)
    srcs = [s.format(n=n) for s in expr.join]
    cols = [rows[s] for s in srcs]
    joined = textops.join(cols, mapping.key_separator)
    incomplete = np.logical_or.reduce([(c == "").to_numpy() for c in cols])
    return joined.where(~incomplete, ""), " + ".join(headers[s] for s in srcs)
