"""Shell: what operators read on a terminal — one line per source pass, the summary of a checked
or imported export, the run and event history, the rule catalogue. Plain text built from the
library's plain data; the CLI and the daemon print or log it."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table

from etl.core.exports import printable

if TYPE_CHECKING:  # pandas is imported where it is used: `etl status` starts without it
    import pandas as pd

    from etl.core.mapping_format import Mapping
    from etl.core.retention import PurgeCounts
    from etl.pipeline import CheckResult, ImportResult
    from etl.runner import SourcePass
    from etl.runner.doctor import Check
    from etl.runner.status import SourceStatus


def summary_line(done: SourcePass) -> str:
    """One line per source pass."""
    if done.busy:
        return f"{done.source}: busy (another run holds the lock), skipped"
    parts = [f"{printable(o.key)} {o.status.upper()}"
             + (f" -> {o.settled_in}" if o.settled_in else "")
             + (f" ({o.error})" if o.error else "") for o in done.outcomes]
    if done.waiting:
        parts.append(f"waiting: {', '.join(map(printable, done.waiting))}")
    if done.skipped:
        parts.append(f"skipped: {', '.join(done.skipped)}")
    if done.purged is not None and done.purged.anything:
        parts.append(f"purged {purge_counts(done.purged)}")
    if done.error:
        parts.append(f"FAILED: {done.error}")
    return f"{done.source}: " + ("; ".join(parts) if parts else "nothing to do")


_PURGED = {"archived_files": "archived file(s)", "rejected_files": "rejected file(s)",
           "staging_files": "staging file(s)", "persons_erased": "person(s) erased",
           "events_deleted": "change event(s)"}


def purge_counts(counts: PurgeCounts) -> str:
    """What a purge removed, in words; counts only."""
    return ", ".join(f"{n} {_PURGED[k]}" for k, n in counts.as_dict().items() if n) or "nothing"


def purge_line(done: SourcePass, dry_run: bool, forever: list[str] | None = None) -> str:
    """One line per source purge; ``forever``: the retention settings that keep data forever."""
    if done.busy or done.error or done.purged is None:
        return summary_line(done)
    verb = "would purge" if dry_run else "purged"
    line = f"{done.source}: {verb} {purge_counts(done.purged)}"
    if forever:
        line += f"; kept forever (no retention set): {', '.join(forever)}"
    return line


def check_summary(result: CheckResult, limit: int = 20) -> str:
    """A checked export: rows per entity, errors by rule, the first errors."""
    counts = result.entities.counts() if result.entities else None
    return findings_summary(result.files, counts, result.findings, limit)


def findings_summary(
    files: Iterable[str], counts: dict[str, int] | None, found: pd.DataFrame, limit: int = 20
) -> str:
    """A few lines: rows per entity, errors and warnings by rule, the first of them (errors
    first)."""
    import pandas as pd

    from etl.core import findings

    lines = [f"Export: {', '.join(files)}"]
    if counts is not None:
        lines.append("Rows: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    errors, warned = findings.errors(found), findings.warnings(found)
    lines.append(f"INVALID: {len(errors)} error(s)" if len(errors) else "Valid: no errors.")
    if len(warned):
        lines[-1] += f" {len(warned)} warning(s): imported as they are."
    for title, part in (("error", errors), ("warning", warned)):
        lines += [f"  {n:>7}  {rule} ({title})" for rule, n in findings.per_rule(part).items()]
    if found.empty:
        return "\n".join(lines)
    shown = pd.concat([errors, warned]).head(limit)
    lines.append(f"First {len(shown)}:")
    for row in shown.to_dict("records"):
        where = f"{Path(row['file']).name}:{'' if pd.isna(row['line']) else row['line']}"
        col = f" [{row['column']}]" if isinstance(row["column"], str) else ""
        val = f" {row['value']!r}" if isinstance(row["value"], str) else ""
        lines.append(f"  {where}{col}{val} {row['rule']} ({row['severity']}): "
                     f"{row['message_en']}")
    return "\n".join(lines)


def import_summary(result: ImportResult) -> str:
    """An import's outcome: status, guard verdict, rows written, events per type."""
    lines = [f"Run {result.run_id}  source {result.source}  {result.status.upper()}"]
    if result.status == "duplicate":
        return "\n".join([*lines, "Already applied (same content): nothing to do."])
    if result.status == "rejected":
        assert result.findings is not None
        return "\n".join([*lines, findings_summary(result.files, None, result.findings)])
    lines += [f"Warning: {warning}" for warning in result.warnings]
    if result.verdict is not None:
        lines.append(f"Guard: {result.verdict.label}")
        lines += [f"  - {refusal.english}" for refusal in result.verdict.problems]
        if result.status == "refused":
            lines.append("Nothing was written. Override with --force --reason '...' if intended.")
    if result.changes is not None or result.status == "unchanged":
        written = "Rows written" if result.status in {"applied", "unchanged"} else \
            "Rows it would write"
        lines.append(f"{written}: {_words(result.written())}; ended: {_words(result.ended())}")
        lines.append(f"Events: {_words(result.events())}")
    if result.findings is not None:  # warnings (imported as they are) and held rows
        from etl.core import findings

        warned, held = findings.warnings(result.findings), findings.held(result.findings)
        if len(warned):
            lines.append(f"Warnings: {len(warned)}, imported as they are "
                         f"({_words(findings.per_rule(warned))})")
        if len(held):
            lines.append(f"Held back: {len(held)} errors; their rows keep the last accepted "
                         f"state ({_words(findings.per_rule(held))})")
    return "\n".join(lines)


def _words(counts: dict[str, int]) -> str:
    """``{"person": 3, "unit": 1}`` as "person 3, unit 1"; "none" when empty."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _short_summary(counts: dict[str, int], width: int = 60) -> str:
    """Event counts of a run, cut to fit a terminal line."""
    line = _words(counts) if counts else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _cell(value: object, zone: ZoneInfo) -> str:
    """A table cell: times in the configured zone to the second, missing values empty."""
    import pandas as pd

    if isinstance(value, datetime):  # pd.NaT too: `when` makes it empty
        return when(value, zone)
    return "" if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)) \
        else str(value)


def runs_table(runs: pd.DataFrame, zone: ZoneInfo) -> str:
    """The run history as a table: events per type, or the problems of a rejected export."""
    if not len(runs):
        return "no runs yet"
    rows = []
    for run in runs.to_dict("records"):
        counts = run["findings"] or run["summary"]
        extra = "".join(f" +{n} {what}" for what, key in (("warnings", "warnings"),
                                                          ("held back", "held"))
                        if (n := sum(run[key].values())))
        rows.append([_cell(run[c], zone) for c in RUN_COLUMNS] + [
            _short_summary(counts) + extra, _cell(run["override_reason"], zone)])
    return table([*RUN_COLUMNS, "events / problems", "override reason"], rows)


RUN_COLUMNS = ("run_id", "source", "status", "guard", "export_time", "finished_at")


def run_details(run: dict[str, object], zone: ZoneInfo) -> str:
    """One run in full: files with their hashes, what happened, the guard, timings, report."""
    lines = [f"Run {run['run_id']}  source {run['source']}  client {run['client']}  "
             f"{str(run['status']).upper()}",
             f"Started {_cell(run['started_at'], zone)}, "
             f"finished {_cell(run['finished_at'], zone)}"]
    if run.get("export_time"):
        lines.append(f"Export time {_cell(run['export_time'], zone)}")
    for f in run["files"]:  # type: ignore[attr-defined]
        extra = f"  {f['size']} bytes  sha256 {f['sha256']}" if "sha256" in f else ""
        lines.append(f"File {f['name']}{extra}")
    if run.get("guard"):
        reason = f" ({run['override_reason']})" if run.get("override_reason") else ""
        lines.append(f"Guard {run['guard']}{reason}")
    for title, key in (("Events", "summary"), ("Problems", "findings"),
                       ("Warnings", "warnings"), ("Held back", "held"),
                       ("Seconds", "timings")):
        values = run.get(key) or {}
        if values:
            lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    for title, key in (("Report", "report"), ("Message", "message")):
        if run.get(key):
            lines.append(f"{title}: {run[key]}")
    return "\n".join(lines)


def events_table(events: pd.DataFrame, zone: ZoneInfo) -> str:
    """Change events as a table (keys and field names only)."""
    import pandas as pd

    if not len(events):
        return "no events"
    shown = events.loc[:, (events.notna() & events.ne("")).any()]  # no column all empty
    cells = pd.DataFrame({name: _cells(shown[name], zone) for name in shown.columns})
    return table(list(cells.columns), cells.to_numpy().tolist())


def _cells(values: pd.Series, zone: ZoneInfo) -> pd.Series:
    """A column as table cells (``_cell``, whole columns): times in the configured zone to the
    second (naive ones are UTC), missing values empty."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values.dt.tz_localize(UTC) if values.dt.tz is None else values
        return stamps.dt.tz_convert(zone).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    return values.astype(object).where(values.notna(), "").astype(str)


def mappings_list(mappings: Iterable[Mapping]) -> str:
    """One line per ERP dialect."""
    return "\n".join(f"{spec.name:<20} {spec.title}" for spec in mappings)


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def status_table(statuses: Iterable[SourceStatus], zone: ZoneInfo, now: datetime) -> str:
    """One line per source, in aligned columns; the state says what needs attention."""
    statuses = list(statuses)
    rows = []
    for st in statuses:
        state = [word for word, on in (("OVERDUE", st.overdue), ("FAILING", st.failing),
                                       ("DROP?", bool(st.drop_problem))) if on]
        rows.append((
            st.source,
            f"{st.last_run.upper()} {_ago(st.last_run_at, now)}" if st.last_run else "never",
            _ago(st.last_success_at, now),
            when(st.last_export, zone, seconds=False),
            "" if st.waiting is None else str(st.waiting),
            "" if st.in_error is None else str(st.in_error),
            when(st.next_run, zone, seconds=False),
            " ".join(state) or "ok"))
    lines = [table(("source", "last run", "last success", "export", "waiting", "error",
                    "next run", "state"), rows)]
    lines += [f"{st.source}: {st.drop_problem}" for st in statuses if st.drop_problem]
    return "\n".join(lines)


def when(moment: datetime | None, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """A moment in the configured zone, to the second (or minute); empty when missing. A
    moment without a zone is UTC (SQLite keeps none)."""
    if moment is None or moment != moment:  # noqa: PLR0124 (pd.NaT is not equal to itself)
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M{':%S' if seconds else ''}}"


def table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Aligned columns under a ruled header (rich), without colour or trailing blanks, as wide
    as the cells need: a pipe or a log gets the same text a terminal does."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="")
    for column in columns:
        grid.add_column(column, no_wrap=True)
    for row in rows:
        grid.add_row(*row)
    out = Console(file=io.StringIO(), width=100_000, color_system=None, force_terminal=False)
    out.print(grid)
    return "\n".join(line.rstrip() for line in out.file.getvalue().splitlines())  # type: ignore[attr-defined]


def doctor_lines(checks: Iterable[Check]) -> str:
    """One line per check: ok or FAIL, what was found, and for a failure what to fix."""
    return "\n".join(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}"
                     + ("" if c.ok or not c.fix else f"\n      fix: {c.fix}") for c in checks)
