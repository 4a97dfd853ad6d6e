"""Core: findings — one row per problem, naming file, line, column, value and rule.

Every stage reports problems as a frame with ``COLUMNS`` so that thousands of bad rows cost one
vectorised operation, not a Python loop; the texts and each rule's default severity come from
the rule catalogue (`rules`); `judged` applies a mapping's and a source's severities.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pandas as pd

from etl.core.rules import RULES, message

COLUMNS = ["file", "line", "column", "value", "rule", "message_de", "message_en", "severity"]


def empty() -> pd.DataFrame:
    """A findings frame with no rows (a copy of one made once: stages ask for many)."""
    return _none().copy()


@functools.cache
def _none() -> pd.DataFrame:
    return normalise(pd.DataFrame({c: pd.Series(dtype="str") for c in COLUMNS}))


def make(
    rule: str,
    *,
    file: str | pd.Series,
    line: int | pd.Series | None,
    column: str | pd.Series | None,
    value: str | pd.Series | None = None,
    **params: object,
) -> pd.DataFrame:
    """Findings of one rule; any argument may be a Series (one finding per element)."""
    de, en = message(rule, **params)
    frame = pd.DataFrame(
        {
            "file": file,
            "line": line,
            "column": column,
            "value": value,
            "rule": rule,
            "message_de": de,
            "message_en": en,
            "severity": RULES[rule].severity,
        },
        index=_index_of(file, line, column, value),
    )
    return normalise(frame)


def _index_of(*parts: object) -> pd.Index:
    for p in parts:
        if isinstance(p, pd.Series):
            return p.index
    return pd.RangeIndex(1)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed columns and dtypes, sorted by file and line."""
    frame = frame.reindex(columns=COLUMNS).reset_index(drop=True)
    frame["line"] = pd.to_numeric(frame["line"], errors="coerce").astype("Int64")
    for c in COLUMNS:
        if c != "line":
            frame[c] = frame[c].astype("str").where(frame[c].notna(), None)
    return frame


def judged(found: pd.DataFrame, severity: dict[str, str]) -> pd.DataFrame:
    """The findings with each rule's ``severity`` (etl.core.rules.severities)."""
    return found.assign(severity=found["rule"].map(severity).fillna("error"))


def errors(found: pd.DataFrame) -> pd.DataFrame:
    """The findings that block the export."""
    return found[found["severity"] == "error"]


def held(found: pd.DataFrame) -> pd.DataFrame:
    """The errors whose rows were held back while the rest was imported (etl.stages.hold)."""
    return found[found["severity"] == "held"]


def warnings(found: pd.DataFrame) -> pd.DataFrame:
    """The findings imported as they are."""
    return found[found["severity"] == "warning"]


def per_rule(found: pd.DataFrame) -> dict[str, int]:
    """How many findings each rule has, most first."""
    return {str(k): int(v) for k, v in found["rule"].value_counts().items()}


def concat(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """All findings of several stages, ordered by file, line, column."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty()
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["file", "line", "column"], na_position="first", kind="stable")
    return normalise(out)
