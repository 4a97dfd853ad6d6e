"""Stage validate: run the pandera schemas of `schemas/` over the canonical entities, lazily.

Every failure becomes one finding pointing at the source file, line and header it came from.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_

from etl.core import findings, textops
from etl.core.meanwhile import each
from etl.core.model import ENTITIES, Entities
from etl.core.rules import RULES
from schemas import WIDE_CHECK_COLUMNS, schema_for

_BUILTIN_RULES = {
    "not_nullable": "required",
    "field_uniqueness": "key.unique",
    "multiple_fields_uniqueness": "key.unique",
}


def validate(entities: Entities, known: Mapping[str, pa_.ChunkedArray] | None = None
             ) -> pd.DataFrame:
    """All findings of all entities (empty when the export is valid), two entities at a time
    (`etl.core.meanwhile.each`); raises nothing on bad data.
    ``known``: per entity, keys the export has besides those of ``entities`` (references to them
    are valid: the rows of an export's unchanged lines, `etl.pipeline.delta`)."""
    known = known or {}
    refs = {  # repeats are harmless in a value set: no unique() over 800k keys
        name: pa_.chunked_array([textops.arrow(frame[ENTITIES[name].key[0]].dropna()), *(
            known[name].chunks if name in known else [])], pa_.large_string())
        for name, frame in entities.frames.items()
        if len(ENTITIES[name].key) == 1
    }

    def one(name: str) -> pd.DataFrame:
        frame = entities.frames[name]
        try:
            schema_for(name, refs).validate(frame[ENTITIES[name].field_names], lazy=True)
        except pa.errors.SchemaErrors as exc:
            return _to_findings(name, frame, exc.failure_cases, entities)
        return findings.empty()

    return findings.concat([_too_long(entities), *each(one, entities.frames, entities.rows)])


def _too_long(entities: Entities) -> pd.DataFrame:
    """Values longer than the portal's columns (``value.too_long``). A column whose longest
    value in bytes fits is done with at once (characters are never more than bytes)."""
    parts = []
    for name, frame in entities.frames.items():
        for f in ENTITIES[name].fields:
            if not f.max_length or textops.longest_in_bytes(frame[f.name]) <= f.max_length:
                continue
            long = textops.lengths(frame[f.name]) > f.max_length
            if long.any():
                rows = frame[long]
                columns = [entities.lineage.column(name, f.name, int(g)) for g in rows["_group"]]
                parts.append(findings.make(
                    "value.too_long", file=entities.files[name], line=rows["_line"],
                    column=pd.Series(columns, index=rows.index), value=rows[f.name]))
    return findings.concat(parts)


def _to_findings(
    entity: str, frame: pd.DataFrame, cases: pd.DataFrame, entities: Entities
) -> pd.DataFrame:
    cases = cases.copy()
    cases["rule"] = cases["check"].astype("str").map(lambda c: _BUILTIN_RULES.get(c, c))
    cases.loc[~cases["rule"].isin(RULES), "rule"] = "schema.dtype"
    # a check over several columns is reported once per row, at its column and that value
    # (pandera names every column of the row but the empty ones)
    cases = cases.drop_duplicates(["index", "rule"])
    target = cases["rule"].map(WIDE_CHECK_COLUMNS)
    wide = (cases["schema_context"] == "DataFrameSchema") & target.notna()
    cases.loc[wide, "column"] = target[wide]
    index = pd.to_numeric(cases["index"], errors="coerce")
    located = index.notna()
    for column in target[wide].unique():
        at = wide & located & (target == column)
        cases.loc[at, "failure_case"] = frame.loc[index[at].astype("int64"), column].to_numpy()
    rows = frame.reindex(index[located].astype("int64"))
    cases["line"] = pd.Series(rows["_line"].to_numpy(), index=cases.index[located])
    cases["group"] = pd.Series(rows["_group"].to_numpy(), index=cases.index[located])
    cases["header"] = [
        entities.lineage.column(entity, str(col), 0 if pd.isna(g) else int(g))
        for col, g in zip(cases["column"], cases["group"], strict=True)
    ]
    file = entities.files[entity]
    params = {"entity": ENTITIES[entity].german}
    return findings.concat(
        findings.make(
            rule,
            file=file,
            line=group["line"],
            column=group["header"],
            value=_display(group["failure_case"]),
            **params,
        )
        for rule, group in cases.groupby("rule", sort=False)
    )


def _display(values: pd.Series) -> pd.Series:
    """Failure values as text: dates as YYYY-MM-DD, numbers without a trailing '.0'."""
    def one(v: object) -> str | None:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%d")
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    return values.map(one).astype("object")
