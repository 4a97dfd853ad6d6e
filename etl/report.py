"""Shared: error reports for ERP staff (CSV, German) and summaries for operators."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

REPORT_HEADERS = {
    "file": "Datei",
    "line": "Zeile",
    "column": "Spalte",
    "value": "Wert",
    "rule": "Regel",
    "message_de": "Meldung",
    "message_en": "Message (English)",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(values: pd.Series) -> pd.Series:
    """Cells that a spreadsheet would run as a formula get a leading apostrophe."""
    text = values.astype("str")
    risky = text.str.startswith(_FORMULA_START) & values.notna()
    return text.where(~risky, "'" + text).where(values.notna(), "")


def write_csv(found: pd.DataFrame, path: Path) -> None:
    """The findings as a CSV that Excel opens with umlauts intact (UTF-8 with BOM, ';')."""
    out = found[list(REPORT_HEADERS)].copy()
    for col in out.columns:
        out[col] = neutralise(out[col]) if col != "line" else out[col].astype("Int64")
    out = out.rename(columns=REPORT_HEADERS)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", index=False, encoding="utf-8-sig", lineterminator="\r\n")


def summary(
    files: Iterable[str], counts: dict[str, int] | None, found: pd.DataFrame, limit: int = 20
) -> str:
    """A few lines for a terminal: rows per entity, errors by rule, the first errors."""
    lines = [f"Export: {', '.join(files)}"]
    if counts is not None:
        lines.append("Rows: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if found.empty:
        lines.append("Valid: no errors.")
        return "\n".join(lines)
    lines.append(f"INVALID: {len(found)} error(s)")
    for rule, n in found["rule"].value_counts().items():
        lines.append(f"  {n:>7}  {rule}")
    lines.append(f"First {min(limit, len(found))}:")
    for row in found.head(limit).to_dict("records"):
        where = f"{Path(row['file']).name}:{'' if pd.isna(row['line']) else row['line']}"
        col = f" [{row['column']}]" if isinstance(row["column"], str) else ""
        val = f" {row['value']!r}" if isinstance(row["value"], str) else ""
        lines.append(f"  {where}{col}{val} {row['rule']}: {row['message_en']}")
    return "\n".join(lines)
