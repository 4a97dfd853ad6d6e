"""Drops: the reports ERP staff find beside an export that was not imported — every problem as
a CSV that Excel opens (``<stem>.fehler.csv``), and a short text saying what happened and what to
do (``<stem>.fehler.txt``), German first, then English — and the run's page beside every export,
taken or not (``<stem>.bericht.html``, etl.drops.page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from etl.core import findings
from etl.core.exports import printable


@dataclass(frozen=True)
class Rejection:
    """An export that was not imported, as ERP staff are told about it: rejected for its
    ``findings``, or refused by the guard for its ``refusals`` (German, English)."""

    source: str
    client: str
    key: str  # the data file, or the manifest of a set
    files: tuple[str, ...]
    run_id: str
    findings: pd.DataFrame
    refusals: tuple[tuple[str, str], ...] = ()

REPORT_HEADERS = {
    "file": "Datei",
    "line": "Zeile",
    "column": "Spalte",
    "value": "Wert",
    "rule": "Regel",
    "severity": "Schwere",
    "message_de": "Meldung",
    "message_en": "Message (English)",
}
SEVERITY_DE = {"error": "Fehler", "warning": "Warnung (übernommen)",
               "held": "Fehler (Zeile zurückgehalten)"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(values: pd.Series) -> pd.Series:
    """Cells that a spreadsheet would run as a formula get a leading apostrophe."""
    text = values.astype("str")
    risky = text.str.startswith(_FORMULA_START) & values.notna()
    return text.where(~risky, "'" + text).where(values.notna(), "")


def csv_bytes(found: pd.DataFrame) -> bytes:
    """The findings as a CSV that Excel opens with umlauts intact (UTF-8 with BOM, ';'); the
    severity says which blocked the export (Fehler) and which were imported (Warnung)."""
    out = found[list(REPORT_HEADERS)].copy()
    out["severity"] = out["severity"].map(SEVERITY_DE).fillna(out["severity"])
    for col in out.columns:
        out[col] = neutralise(out[col]) if col != "line" else out[col].astype("Int64")
    out = out.rename(columns=REPORT_HEADERS)
    return out.to_csv(sep=";", index=False, lineterminator="\r\n").encode("utf-8-sig")


def write_csv(found: pd.DataFrame, path: Path) -> None:
    """The findings report (``csv_bytes``) written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(found))


def staff_summary(rejection: Rejection, csv_name: str | None, when: datetime,
                  limit: int = 10) -> str:
    """The text beside a rejected or refused export in the drop's error folder: what happened
    and what to do, German for ERP staff first, then English."""
    found = rejection.findings
    source, key = rejection.source, printable(rejection.key)
    csv_name = printable(csv_name) if csv_name else None
    files = ", ".join(map(printable, rejection.files))
    head = [f"Export: {key}" + (f" ({files})" if files and files != key else ""),
            f"Quelle / source: {source} (Mandant / client {rejection.client})",
            f"Lauf / run: {rejection.run_id}, {when:%Y-%m-%d %H:%M:%S %Z}", ""]
    de: list[str] = []
    en: list[str] = []
    if rejection.refusals:
        de += ["Ergebnis: ANGEHALTEN – der Export wurde nicht übernommen, weil er gegenüber dem "
               "zuletzt übernommenen Export unplausibel ist:"]
        en += ["Result: REFUSED – not imported: implausible against the last accepted export:"]
        de += [f"  - {german}" for german, _english in rejection.refusals]
        en += [f"  - {english}" for _german, english in rejection.refusals]
        de += ["Was tun: Stimmt der Export (z. B. viele Auszüge zum Monatsende), übernimmt die "
               "Betreuung ihn bewusst (etl retry ... --force --reason). Sonst den Export im ERP "
               "prüfen und neu hochladen."]
        en += [f"What to do: if it is right, an operator applies it: etl retry --source {source} "
               f"{key} --force --reason '...'; otherwise re-export it."]
    else:
        errors, warned = findings.errors(found), len(findings.warnings(found))
        de += [f"Ergebnis: ABGELEHNT – nichts wurde übernommen. {len(errors)} Fehler"
               + (f" und {warned} Warnung(en)" if warned else "")
               + (f", alle in {csv_name}." if csv_name else ".")]
        en += [f"Result: REJECTED – nothing was imported. {len(errors)} error(s)"
               + (f" and {warned} warning(s)" if warned else "")
               + (f", all in {csv_name}." if csv_name else ".")]
        for row in errors.head(limit).to_dict("records"):
            where = [str(row["file"])]
            if not pd.isna(row["line"]):
                where.append(f"Zeile {row['line']}")
            if isinstance(row["column"], str):
                where.append(f"Spalte „{row['column']}“")
            de.append(f"  - {', '.join(where)}: {row['message_de']}")
            en.append(f"  - {row['file']}:{'' if pd.isna(row['line']) else row['line']} "
                      f"{row['column'] if isinstance(row['column'], str) else ''} "
                      f"{row['message_en']}")
        if len(errors) > limit:
            de.append(f"  ... und {len(errors) - limit} weitere")
        de += ["Was tun: Den Export im ERP korrigieren und erneut in den Eingangsordner "
               "hochladen; er wird beim nächsten Lauf übernommen."]
        en += ["What to do: fix the export in the ERP and upload it to the inbox again."]
    return "\r\n".join([*head, *de, "", "--- English ---", *en, ""])
