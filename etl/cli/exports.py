"""Shell, the `etl` command: exports and the database — validate, import, plan, the history of
runs and events, mappings, rules, schema migrations."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from etl.cli.app import (
    ConfigOption,
    FilesArgument,
    ForceOption,
    JsonOption,
    LogFormatOption,
    LogLevel,
    QuietOption,
    ReasonOption,
    SourceOption,
    app,
    echo_json,
    log_to_stderr,
    open_importer,
    override_reason,
    progress_bars,
    zone,
)
from etl.core.errors import RejectedFile
from etl.core.events import EVENT_TYPES

if TYPE_CHECKING:
    from etl.importer import Importer
    from etl.pipeline import ImportResult

EventType = StrEnum("EventType", {name: name for name in EVENT_TYPES})  # type: ignore[misc]

db_app = typer.Typer(help="The portal database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade", epilog="Example: etl db upgrade")
def db_upgrade_cmd(config: ConfigOption = None) -> None:
    """Create or upgrade the portal schema to the newest migration (Alembic)."""
    typer.echo(f"schema at revision {open_importer(config).upgrade()}")


@app.command("validate", epilog="Example: etl validate mieterliste_2026-11-01.csv -m "
             "wodis-style -r fehler.csv")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Export file(s); a multi-file export at once.",
                                                exists=True, dir_okay=False, readable=True)],
    mapping: Annotated[str, typer.Option("--mapping", "-m",
                                         help="Mapping name (mappings/NAME.yaml) or a YAML path.")],
    report_path: Annotated[Path | None, typer.Option(
        "--report", "-r", help="Write the error report (CSV, UTF-8 with BOM) here; with several "
        "exports, one report per export named after it.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many errors to print.")] = 20,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Read, map and validate exports (no database).

    Exit 0 when all are valid, 4 when one is rejected. With --json: one object per export, with
    every finding."""
    from etl.console import records, text

    log_to_stderr(log_level, log_format, quiet)
    importer = open_importer(config)
    with progress_bars(quiet):
        checked = importer.validate(files, mapping, report_path)
    if json_lines:
        echo_json(records.check(e.result, e.report) for e in checked)
    for export in [] if json_lines else checked:
        typer.echo(text.check_summary(export.result, limit))
        if export.report is not None:
            typer.echo(f"Report: {export.report}")
        typer.echo("")
    if not all(export.result.ok for export in checked):
        raise typer.Exit(RejectedFile.exit_code)


@app.command("mappings", epilog="Example: etl mappings")
def mappings_cmd(config: ConfigOption = None) -> None:
    """List the ERP mappings (dialects) that are available."""
    from etl.console import text

    typer.echo(text.mappings_list(open_importer(config).mappings()))


@app.command("rules", epilog="Example: etl rules")
def rules_cmd() -> None:
    """List every validation rule with its German and English message."""
    from etl.core.rules import catalogue_yaml

    typer.echo(catalogue_yaml())


def _imported(call: Callable[[Importer], ImportResult], config: Path | None, json_lines: bool,
              quiet: bool, log_level: LogLevel, log_format: LogFormatOption,
              note: Callable[[ImportResult], str | None] = lambda _result: None) -> None:
    """Runs ``call`` (an import, plan or apply) with logging and progress bars, shows its result
    (and the ``note`` on it), and exits 4 when the export was rejected or refused."""
    from etl.console import records, text

    log_to_stderr(log_level, log_format, quiet)
    importer = open_importer(config)
    with progress_bars(quiet):
        result = call(importer)
    if json_lines:
        echo_json([records.imported(result)])
    else:
        typer.echo(text.import_summary(result))
        if (extra := note(result)) is not None:
            typer.echo(extra)
    if result.status in {"rejected", "refused"}:
        raise typer.Exit(RejectedFile.exit_code)


@app.command("import", epilog="Example: etl import mieterliste_2026-12-01.csv -s lindenhof "
             "--force --reason 'Umzugswelle geprüft'")
def import_cmd(
    files: FilesArgument,
    source: SourceOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the change set, write "
                                          "nothing.")] = False,
    force: ForceOption = False,
    reason: ReasonOption = None,
    report_path: Annotated[Path | None, typer.Option(
        "--report", "-r", help="Where to write the error report of a rejected export, or "
        "the warnings of an imported one.")] = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Apply one export to the portal database in one transaction.

    Exit 0, 4 (rejected or refused) or 6 (the database failed)."""
    reason = override_reason(force, reason)
    _imported(lambda importer: importer.import_files(
        files, source, dry_run=dry_run, override_reason=reason, report_path=report_path),
        config, json_lines, quiet, log_level, log_format,
        lambda result: f"Report: {report_path}" if result.status == "rejected" and report_path
        else None)


@app.command("plan", epilog="Example: etl plan mieterliste_2026-12-01.csv -s lindenhof "
             "--out dezember.plan.json")
def plan_cmd(
    files: FilesArgument,
    source: SourceOption,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Save the plan here (JSON: counts, guard, every change with its "
        "keys) for review and `etl apply`.", dir_okay=False)] = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Show what importing the export would change; nothing is written.

    The same as `etl import --dry-run`; with --out the plan is saved, and `etl apply` imports
    exactly it. Exit 4 when the export would be rejected or refused."""
    def plan(importer: Importer) -> ImportResult:
        if out is None:
            return importer.import_files(files, source, dry_run=True)
        return importer.plan(files, source, out)

    _imported(plan, config, json_lines, quiet, log_level, log_format,
              lambda result: f"Plan: {out} — review it, then `etl apply {out}`"
              if out is not None and result.expected is not None else None)


@app.command("apply", epilog="Example: etl apply dezember.plan.json --force --reason "
             "'Umzugswelle geprüft'")
def apply_cmd(
    plan: Annotated[Path, typer.Argument(help="A plan saved by `etl plan --out`.",
                                         exists=True, dir_okay=False, readable=True)],
    force: ForceOption = False,
    reason: ReasonOption = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Import exactly what a saved plan shows, in one transaction.

    Refused (exit 4) when a file or the database changed since the plan was made, or when the
    export now computes to other changes; the guard judges as in `etl import`."""
    override = override_reason(force, reason)
    _imported(lambda importer: importer.apply(plan, override), config, json_lines, quiet,
              log_level, log_format)


@app.command("runs", epilog="Example: etl runs --source lindenhof --limit 5")
def runs_cmd(
    run_id: Annotated[str | None, typer.Argument(
        help="Show this run in full (the id a report names).")] = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs.")] = 20,
    json_lines: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The history of runs, newest first, or one run in full.

    Every run is listed: applied, unchanged, duplicate, rejected, refused, failed, purged."""
    from etl.console import records, text

    importer = open_importer(config)
    if run_id is None:
        found = importer.runs(source, limit)
        if json_lines:
            echo_json(records.runs(found, zone(importer)))
        else:
            typer.echo(text.runs_table(found, zone(importer)))
        return
    run = importer.run_record(run_id)
    if run is None:
        raise typer.BadParameter(f"there is no run {run_id}", param_hint="RUN_ID")
    if json_lines:
        echo_json([records.run(run, zone(importer))])
    else:
        typer.echo(text.run_details(run, zone(importer)))


@app.command("events", epilog="Example: etl events --after 1200 --json   (a portal consumer)")
def events_cmd(
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    event: Annotated[EventType | None, typer.Option(help="Only this event type.")] = None,
    after: Annotated[int | None, typer.Option(
        min=0, help="Read on from this event id (a consumer's cursor): the oldest events "
        "after it, in order.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many events (without --after: the "
                                       "newest).")] = 50,
    json_lines: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Change events: keys and field names only, never residents' data.

    Without --after the newest; with --after ID those after ID, oldest first (docs/events.md)."""
    from etl.console import records, text

    importer = open_importer(config)
    found = importer.events(client, run, event and event.value, limit, after=after)
    if json_lines:
        echo_json(records.events(found, zone(importer)))
    else:
        typer.echo(text.events_table(found, zone(importer)))
