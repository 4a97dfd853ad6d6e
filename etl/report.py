"""Shared: error reports for ERP staff (CSV, German) and summaries for operators."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from etl.pipeline import ImportResult

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


def csv_bytes(found: pd.DataFrame) -> bytes:
    """The findings as a CSV that Excel opens with umlauts intact (UTF-8 with BOM, ';')."""
    out = found[list(REPORT_HEADERS)].copy()
    for col in out.columns:
        out[col] = neutralise(out[col]) if col != "line" else out[col].astype("Int64")
    out = out.rename(columns=REPORT_HEADERS)
    return out.to_csv(sep=";", index=False, lineterminator="\r\n").encode("utf-8-sig")


def write_csv(found: pd.DataFrame, path: Path) -> None:
    """The findings report (``csv_bytes``) written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(found))


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


def staff_summary(source: str, client: str, key: str, result: ImportResult,
                  csv_name: str | None, when: datetime, limit: int = 10) -> str:
    """The text beside a rejected or refused export in the drop's error folder: what happened
    and what to do, German for ERP staff first, then English."""
    found = result.findings if result.findings is not None else pd.DataFrame()
    files = ", ".join(result.files)
    head = [f"Export: {key}" + (f" ({files})" if files and files != key else ""),
            f"Quelle / source: {source} (Mandant / client {client})",
            f"Lauf / run: {result.run_id}, {when:%Y-%m-%d %H:%M:%S %Z}", ""]
    de: list[str] = []
    en: list[str] = []
    if result.status == "refused" and result.verdict is not None:
        de += ["Ergebnis: ANGEHALTEN – der Export wurde nicht übernommen, weil er gegenüber dem "
               "zuletzt übernommenen Export unplausibel ist:"]
        en += ["Result: REFUSED – not imported: implausible against the last accepted export:"]
        de += [f"  - {text}" for _rule, text, _en in result.verdict.problems]
        en += [f"  - {text}" for _rule, _de, text in result.verdict.problems]
        de += ["Was tun: Stimmt der Export (z. B. viele Auszüge zum Monatsende), übernimmt die "
               "Betreuung ihn bewusst (etl retry ... --force --reason). Sonst den Export im ERP "
               "prüfen und neu hochladen."]
        en += [f"What to do: if it is right, an operator applies it: etl retry --source {source} "
               f"{key} --force --reason '...'; otherwise re-export it."]
    else:
        de += [f"Ergebnis: ABGELEHNT – nichts wurde übernommen. {len(found)} Problem(e)"
               + (f", alle in {csv_name}." if csv_name else ".")]
        en += [f"Result: REJECTED – nothing was imported. {len(found)} problem(s)"
               + (f", all in {csv_name}." if csv_name else ".")]
        for row in found.head(limit).to_dict("records"):
            where = [str(row["file"])]
            if not pd.isna(row["line"]):
                where.append(f"Zeile {row['line']}")
            if isinstance(row["column"], str):
                where.append(f"Spalte „{row['column']}“")
            de.append(f"  - {', '.join(where)}: {row['message_de']}")
            en.append(f"  - {row['file']}:{'' if pd.isna(row['line']) else row['line']} "
                      f"{row['column'] if isinstance(row['column'], str) else ''} "
                      f"{row['message_en']}")
        if len(found) > limit:
            de.append(f"  ... und {len(found) - limit} weitere")
        de += ["Was tun: Den Export im ERP korrigieren und erneut in den Eingangsordner "
               "hochladen; er wird beim nächsten Lauf übernommen."]
        en += ["What to do: fix the export in the ERP and upload it to the inbox again."]
    return "\r\n".join([*head, *de, "", "--- English ---", *en, ""])
