"""Shell, the `etl` command: exports and the database — validate, import, plan, the history of
runs and events, mappings, rules, schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etl.cli.app import (
    ConfigOption,
    FilesArgument,
    ForceOption,
    ReasonOption,
    SourceOption,
    app,
    open_importer,
    override_reason,
)
from etl.core.errors import RejectedFile

db_app = typer.Typer(help="The portal database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_cmd(config: ConfigOption = None) -> None:
    """Create or upgrade the portal schema to the newest migration (Alembic)."""
    typer.echo(f"schema at revision {open_importer(config).upgrade()}")


@app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Export file(s); a multi-file export at once.",
                                                exists=True, dir_okay=False, readable=True)],
    mapping: Annotated[str, typer.Option("--mapping", "-m",
                                         help="Mapping name (mappings/NAME.yaml) or a YAML path.")],
    report_path: Annotated[Path | None, typer.Option(
        "--report", "-r", help="Write the error report (CSV, UTF-8 with BOM) here; with several "
        "exports, one report per export named after it.")] = None,
    limit: Annotated[int, typer.Option(help="How many errors to print.")] = 20,
    config: ConfigOption = None,
) -> None:
    """Read, map and validate exports; exit 0 when all are valid, 4 when one is rejected."""
    from etl import console

    checked = open_importer(config).validate(files, mapping, report_path)
    for export in checked:
        typer.echo(console.check_summary(export.result, limit))
        if export.report is not None:
            typer.echo(f"Report: {export.report}")
        typer.echo("")
    if not all(export.result.ok for export in checked):
        raise typer.Exit(RejectedFile.exit_code)


@app.command("mappings")
def mappings_cmd(config: ConfigOption = None) -> None:
    """List the ERP mappings (dialects) that are available."""
    from etl import console

    typer.echo(console.mappings_list(open_importer(config).mappings()))


@app.command("rules")
def rules_cmd() -> None:
    """List every validation rule with its German and English message."""
    from etl.core.rules import catalogue_yaml

    typer.echo(catalogue_yaml())


def _import(files: list[Path], source: str, config: Path | None, dry_run: bool,
            reason: str | None, report_path: Path | None) -> None:
    from etl import console

    result = open_importer(config).import_files(files, source, dry_run=dry_run,
                                            override_reason=reason, report_path=report_path)
    typer.echo(console.import_summary(result))
    if result.status == "rejected" and report_path is not None:
        typer.echo(f"Report: {report_path}")
    if result.status in {"rejected", "refused"}:
        raise typer.Exit(RejectedFile.exit_code)


@app.command("import")
def import_cmd(
    files: FilesArgument,
    source: SourceOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the change set, write "
                                          "nothing.")] = False,
    force: ForceOption = False,
    reason: ReasonOption = None,
    report_path: Annotated[Path | None, typer.Option(
        "--report", "-r", help="Where to write the error report of a rejected export.")] = None,
    config: ConfigOption = None,
) -> None:
    """Apply one export to the portal database in one transaction (exit 0, 4 or 6)."""
    _import(files, source, config, dry_run, override_reason(force, reason), report_path)


@app.command("plan")
def plan_cmd(
    files: FilesArgument,
    source: SourceOption,
    config: ConfigOption = None,
) -> None:
    """Show what importing the export would change; nothing is written (= import --dry-run)."""
    _import(files, source, config, True, None, None)


@app.command("runs")
def runs_cmd(
    run_id: Annotated[str | None, typer.Argument(
        help="Show this run in full (the id a report names).")] = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    config: ConfigOption = None,
) -> None:
    """The history of runs, newest first — applied, unchanged, duplicate, rejected, refused,
    failed, purged — or one run in full."""
    from etl import console

    importer = open_importer(config)
    if run_id is None:
        typer.echo(console.runs_table(importer.runs(source, limit)))
        return
    run = importer.run_record(run_id)
    if run is None:
        raise typer.BadParameter(f"there is no run {run_id}", param_hint="RUN_ID")
    typer.echo(console.run_details(run))


@app.command("events")
def events_cmd(
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event type, e.g. moved.")] = None,
    limit: Annotated[int, typer.Option(help="How many events (the newest).")] = 50,
    config: ConfigOption = None,
) -> None:
    """Recent change events (keys and field names only, never residents' data)."""
    from etl import console

    typer.echo(console.events_table(open_importer(config).events(client, run, event, limit)))
