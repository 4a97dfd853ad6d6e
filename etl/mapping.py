"""Stage map: source tables -> canonical entities, driven only by the mapping YAML.

Per source column: Excel-damage checks on keys, zero padding, value maps, splitting combined
fields ("PLZ Ort"), separating several values in one field. Per entity: composing keys, column
groups (tenant 1..4 side by side), typing dates and numbers, and dropping the exact duplicates a
flat export repeats on every resident's row. Values that cannot be mapped become findings; the
entity frames keep their source file and line in provenance columns.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from etl import findings
from etl.config import Column, Const, EntitySpec, Join, Mapping, PerGroup
from etl.models import ENTITIES, PROVENANCE, Entities, Kind, Lineage, SourceTable

_SCIENTIFIC = r"^[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+$"
_UNIT_SEP = "\x1f"


def map_entities(mapping: Mapping, tables: dict[str, SourceTable]) -> tuple[Entities, pd.DataFrame]:
    """Canonical entity frames and the findings of mapping (bad keys, dates, numbers, codes)."""
    problems: list[pd.DataFrame] = []
    prepared: dict[str, pd.DataFrame] = {}
    headers: dict[str, dict[str, str]] = {}
    key_sources = _key_sources(mapping)
    for role, table in tables.items():
        frame, found, hdrs = _prepare(mapping, table, key_sources.get(role, set()))
        prepared[role] = frame
        headers[role] = hdrs
        problems.append(found)
    frames: dict[str, pd.DataFrame] = {}
    lineage: dict[tuple[str, str, int], str] = {}
    for name, spec in mapping.entities.items():
        frame, found = _extract(mapping, name, spec, prepared[spec.from_], headers[spec.from_],
                                lineage, tables[spec.from_].file)
        frames[name] = frame
        problems.append(found)
    out = findings.concat(problems).drop_duplicates(["file", "line", "column", "rule"])
    return Entities(frames, Lineage(lineage)), findings.normalise(out)


def _key_sources(mapping: Mapping) -> dict[str, set[str]]:
    """Per file, the source fields that feed a key (*_id): they get the Excel-damage checks."""
    out: dict[str, set[str]] = {}
    for spec in mapping.entities.values():
        for fname, expr in spec.fields.items():
            if not fname.endswith("_id"):
                continue
            srcs = expr.join if isinstance(expr, Join) else (expr,) if isinstance(expr, str) else ()
            for src in srcs:
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
                          value=frame.loc[mask, name], **params)
            for rule, mask, params in found
        ]
        out[name] = values
        headers[name] = header
        if col.split:
            parts = values.str.extract(col.split)
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
            first, _, rest = _partition(values, col.list)
            out[name] = first
            out[f"{name}_more"] = rest
            headers[f"{name}_more"] = header
    return pd.DataFrame(out), findings.concat(problems), headers


def _partition(values: pd.Series, separator: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    marked = values.str.replace(separator, _UNIT_SEP, regex=True)
    parts = marked.str.partition(_UNIT_SEP)
    rest = parts[2].str.replace(_UNIT_SEP, ", ", regex=False).str.strip()
    return parts[0].str.strip(), parts[1], rest


def _clean_column(
    mapping: Mapping, col: Column, values: pd.Series, is_key: bool
) -> tuple[pd.Series, list[tuple[str, pd.Series, dict[str, object]]]]:
    found: list[tuple[str, pd.Series, dict[str, object]]] = []
    filled = values != ""
    if is_key:
        sci = values.str.match(_SCIENTIFIC)
        if sci.any():
            found.append(("key.excel_scientific", sci, {}))
        if col.width:
            short = filled & (values.str.len() < col.width) & ~sci
            if short.any():
                found.append(("key.leading_zeros", short, {"width": col.width}))
    if col.pad:
        values = values.where(~filled, values.str.pad(col.pad, side="left", fillchar="0"))
    if col.map:
        vmap = mapping.value_maps[col.map]
        table = {k.strip().casefold(): v for k, v in vmap.values.items()}
        mapped = values.str.casefold().map(table)
        if vmap.default is not None:
            mapped = mapped.fillna(vmap.default)
        unknown = filled & mapped.isna()
        if unknown.any():
            allowed = ", ".join(vmap.values)
            found.append(("value.unknown", unknown, {"allowed": allowed}))
        values = mapped.where(filled, "").fillna("").astype("str")
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
        rows = frame[frame[spec.where.format(n=n)] != ""] if spec.where else frame
        part = {"_file": file, "_line": rows["_line"], "_group": n}
        for fname, expr in spec.fields.items():
            part[fname], lineage[(name, fname, n)] = _evaluate(
                mapping, expr, rows, headers, n, position
            )
        parts.append(pd.DataFrame(part, index=rows.index))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    problems = []
    for f in entity.fields:
        if f.name not in out:
            out[f.name] = ""
        raw = out[f.name].astype("str")
        if f.kind is Kind.TEXT:
            out[f.name] = raw.replace("", pd.NA)
            continue
        if f.kind is Kind.DATE:
            out[f.name], bad = _to_date(raw, mapping)
            rule, params = "date.format", {
                "formats": " oder ".join(_human(fmt) for fmt in mapping.dialect.date_formats)
            }
        else:
            out[f.name], bad = _to_decimal(raw, mapping)
            rule, params = "number.format", {"decimal": mapping.dialect.decimal}
        if bad.any():
            column = out.loc[bad, "_group"].map(lambda g, f=f: lineage[(name, f.name, g)])
            problems.append(findings.make(rule, file=file, line=out.loc[bad, "_line"],
                                          column=column.astype("str"), value=raw[bad], **params))
    out = out[[*entity.field_names, *PROVENANCE]]
    out = out.drop_duplicates(subset=entity.field_names, keep="first").reset_index(drop=True)
    return out, findings.concat(problems)


def _evaluate(
    mapping: Mapping,
    expr: str | Join | Const | PerGroup,
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
    srcs = [s.format(n=n) for s in expr.join]
    cols = [rows[s] for s in srcs]
    joined = cols[0]
    for c in cols[1:]:
        joined = joined + mapping.key_separator + c
    incomplete = np.logical_or.reduce([(c == "").to_numpy() for c in cols])
    return joined.where(~incomplete, ""), " + ".join(headers[s] for s in srcs)


def _to_date(values: pd.Series, mapping: Mapping) -> tuple[pd.Series, pd.Series]:
    text = values.fillna("").astype("str")
    empty = (text == "") | text.isin(mapping.dialect.open_end)
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    for fmt in mapping.dialect.date_formats:
        todo = ~empty & result.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        result[todo] = parsed.astype("datetime64[s]")
    return result, ~empty & result.isna()


def _to_decimal(values: pd.Series, mapping: Mapping) -> tuple[pd.Series, pd.Series]:
    text = values.fillna("").astype("str").str.replace(" ", "", regex=False)
    if mapping.dialect.thousands.strip():
        text = text.str.replace(mapping.dialect.thousands, "", regex=False)
    if mapping.dialect.decimal != ".":
        text = text.str.replace(mapping.dialect.decimal, ".", regex=False)
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    return numbers, (text != "") & numbers.isna()


_HUMAN = {"%d": "TT", "%m": "MM", "%Y": "JJJJ", "%y": "JJ"}


def _human(fmt: str) -> str:
    for k, v in _HUMAN.items():
        fmt = fmt.replace(k, v)
    return fmt
