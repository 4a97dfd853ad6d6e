"""Drops: the run report as a web page — one self-contained HTML file (German; no script, no
font, no image, nothing fetched from anywhere) beside every export the drop settles: in the
archive folder when it was taken, in error/ when it was not. ERP staff open it from the drop
(also over SFTP) in any browser: outcome, counts, the guard's verdict, the changes by type with
their keys, every problem with file, line and column, the seconds per stage.

Jinja2 with autoescaping renders it: a file name, key or value from an export is text, never
markup."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from etl.core.exports import printable
from etl.drops.report import SEVERITY_DE

MAX_KEYS = 500  # keys listed per event type (the count is always complete)
MAX_PROBLEMS = 2000  # problems listed (the CSV beside the export has them all)

OUTCOMES = {  # status -> (German headline, colour class)
    "applied": ("Übernommen", "ok"),
    "unchanged": ("Unverändert übernommen (gleicher Inhalt wie zuletzt)", "ok"),
    "duplicate": ("Bereits übernommen (dieselbe Datei)", "ok"),
    "rejected": ("Abgelehnt – nichts wurde übernommen", "bad"),
    "refused": ("Angehalten – nichts wurde übernommen", "bad"),
}
ENTITIES = {"property": "Wirtschaftseinheiten", "building": "Gebäude", "unit": "Mieteinheiten",
            "tenancy": "Verträge", "person": "Personen", "membership": "Vertragspartner"}
STAGES = {"check": "Lesen und Prüfen", "diff": "Vergleich", "guard": "Plausibilität",
          "load": "Schreiben", "again": "Wiedererkannt (dieselben Datenzeilen wie zuletzt)"}


@dataclass(frozen=True)
class RunPage:
    """What the page shows of one run."""

    source: str
    client: str
    key: str
    files: tuple[str, ...]
    run_id: str
    status: str
    guard: str | None = None  # passed, overridden, refused
    override_reason: str | None = None
    refusals: tuple[str, ...] = ()  # German
    rows: dict[str, int] = field(default_factory=dict)  # per entity, in the export
    written: dict[str, int] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    events: pd.DataFrame | None = None  # entity, entity_key, event, fields, from_unit, to_unit
    findings: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


_env = Environment(loader=PackageLoader("etl.drops", "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True,
                   lstrip_blocks=True)


def _events(events: pd.DataFrame | None) -> list[dict[str, object]]:
    if events is None or events.empty:
        return []
    out = []
    for event, group in events.groupby("event", sort=True):
        keys = group.head(MAX_KEYS).astype(object)
        out.append({"event": event, "count": len(group),
                    "rows": keys.where(keys.notna(), "").to_dict("records"),
                    "more": len(group) - len(keys)})
    return out


def _problems(found: pd.DataFrame | None) -> tuple[list[dict[str, object]], list, int]:
    if found is None or found.empty:
        return [], [], 0
    shown = found.head(MAX_PROBLEMS).astype(object)
    shown = shown.where(shown.notna(), "")
    by_rule = [(str(rule), int(n)) for rule, n in found["rule"].value_counts().items()]
    return shown.to_dict("records"), by_rule, len(found) - len(shown)


def render(page: RunPage, when: datetime) -> bytes:
    """The page, UTF-8."""
    headline, tone = OUTCOMES.get(page.status, (page.status, "bad"))
    problems, by_rule, more = _problems(page.findings)
    events = _events(page.events)
    return _env.get_template("run.html.j2").render(
        page=page, key=printable(page.key), files=[printable(f) for f in page.files],
        headline=headline, tone=tone, when=when, events=events,
        event_total=sum(e["count"] for e in events), problems=problems, by_rule=by_rule,
        more_problems=more, stages=[(STAGES.get(k, k), v) for k, v in page.timings.items()],
        problem_total=0 if page.findings is None else len(page.findings), entities=ENTITIES,
        severity=SEVERITY_DE,
    ).encode("utf-8")
