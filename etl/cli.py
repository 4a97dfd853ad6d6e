"""Shell: the `etl` command — a few lines per command over `etl.importer.Importer`.

Errors of the project's tree become one line on stderr and the documented exit code in one
place (``_Commands.invoke``); see README ("Exit codes").
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from etl import console, daemon
from etl.core.errors import EtlError, RejectedFile
from etl.importer import Importer
from etl.runner import SourcePass


class _Commands(TyperGroup):
    """Every command runs here: an EtlError is printed as one line and exits with its code, and
    the importers a command opened are closed."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except EtlError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        finally:
            while _opened:
                _opened.pop().close()


_opened: list[Importer] = []


app = typer.Typer(
    cls=_Commands,
    help="Import ERP CSV exports into the tenant portal (one way: ERP -> portal).",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="config.yaml to use.", envvar="ETL_CONFIG")
]
SourceOption = Annotated[str, typer.Option("--source", "-s", help="Source name in config.yaml.")]
FilesArgument = Annotated[list[Path], typer.Argument(
    help="The export: one file, or every file of a multi-file export.", exists=True,
    dir_okay=False, readable=True)]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Apply although the guard refuses (needs --reason).")]
ReasonOption = Annotated[str | None, typer.Option(
    "--reason", help="Why the guard is overridden; recorded with the run.")]
LogLevel = Annotated[str, typer.Option("--log-level", envvar="ETL_LOG_LEVEL",
                                       help="DEBUG, INFO, WARNING or ERROR (to stderr).")]


def _importer(config: Path) -> Importer:
    importer = Importer.open(config, os.environ)
    _opened.append(importer)
    return importer


def _override(force: bool, reason: str | None) -> str | None:
    """The override reason of ``--force --reason``; the two go together."""
    if force != bool(reason):
        raise typer.BadParameter("--force and --reason go together")
    return reason if force else None


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _finish(passes: list[SourcePass]) -> None:
    for done in passes:
        typer.echo(console.summary_line(done))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))


db_app = typer.Typer(help="The portal database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_cmd(config: ConfigOption = Path("config.yaml")) -> None:
    """Create or upgrade the portal schema to the newest migration (Alembic)."""
    typer.echo(f"schema at revision {_importer(config).upgrade()}")


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
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Read, map and validate exports; exit 0 when all are valid, 4 when one is rejected."""
    checked = _importer(config).validate(files, mapping, report_path)
    for export in checked:
        typer.echo(console.check_summary(export.result, limit))
        if export.report is not None:
            typer.echo(f"Report: {export.report}")
        typer.echo("")
    if not all(export.result.ok for export in checked):
        raise typer.Exit(RejectedFile.exit_code)


@app.command("mappings")
def mappings_cmd(config: ConfigOption = Path("config.yaml")) -> None:
    """List the ERP mappings (dialects) that are available."""
    typer.echo(console.mappings_list(_importer(config).mappings()))


@app.command("rules")
def rules_cmd() -> None:
    """List every validation rule with its German and English message."""
    typer.echo(console.rules_yaml())


def _import(files: list[Path], source: str, config: Path, dry_run: bool, reason: str | None,
            report_path: Path | None) -> None:
    result = _importer(config).import_files(files, source, dry_run=dry_run,
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
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Apply one export to the portal database in one transaction (exit 0, 4 or 6)."""
    _import(files, source, config, dry_run, _override(force, reason), report_path)


@app.command("plan")
def plan_cmd(
    files: FilesArgument,
    source: SourceOption,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Show what importing the export would change; nothing is written (= import --dry-run)."""
    _import(files, source, config, True, None, None)


@app.command("runs")
def runs_cmd(
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """The import history, newest first."""
    typer.echo(console.runs_table(_importer(config).runs(source, limit)))


@app.command("events")
def events_cmd(
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event type, e.g. moved.")] = None,
    limit: Annotated[int, typer.Option(help="How many events (the newest).")] = 50,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Recent change events (keys and field names only, never residents' data)."""
    typer.echo(console.events_table(_importer(config).events(client, run, event, limit)))


@app.command("run")
def run_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source with a "
        "drop.")] = None,
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """One pass over the sources' drops: take every complete export, import it, archive it
    (or move it to error/ with a report). For cron and systemd timers; exit 0, 4, 5 or 6."""
    _logging(log_level)
    _finish(_importer(config).run(source))


@app.command("retry")
def retry_cmd(
    key: Annotated[str, typer.Argument(help="The export in the error folder: its file name, or "
                                       "the manifest of a multi-file export.")],
    source: SourceOption,
    force: ForceOption = False,
    reason: ReasonOption = None,
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Take an export out of the drop's error folder again (e.g. to override a guard refusal)."""
    override = _override(force, reason)
    _logging(log_level)
    _finish([_importer(config).retry(source, key, override)])


@app.command("purge")
def purge_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due, delete "
                                          "nothing.")] = False,
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Delete what the retention says is due: archived and rejected exports with their reports,
    staging copies, ended persons' personal fields (keys stay), old change events. Every `etl run`
    pass does it at its end too; exit 0, 5 or 6."""
    _logging(log_level)
    importer = _importer(config)
    passes = importer.purge(source, dry_run=dry_run)
    for done in passes:
        typer.echo(console.purge_line(done, dry_run, importer.kept_forever(done.source)))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))


@app.command("erase")
def erase_cmd(
    client: Annotated[str, typer.Option("--client", help="The client (Mandant) of the person.")],
    person: Annotated[str, typer.Option("--person", help="The person's key (Personennummer).")],
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Erase one ended person's personal fields now (an erasure request; keys stay). An active
    person is refused: the ERP is the master — erase there first (exit 0 or 4)."""
    run_id = _importer(config).erase(client, person)
    if run_id is None:
        typer.echo(f"Person {person} of client {client} was erased before: nothing to do.")
    else:
        typer.echo(f"Person {person} of client {client}: personal fields erased (run {run_id}).")


@app.command("schedule")
def schedule_cmd(
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """The daemon: run each source on its cron schedule until SIGTERM (then finish the current
    file and exit 0)."""
    _logging(log_level)
    raise typer.Exit(daemon.serve(_importer(config).runner()))


sftp_app = typer.Typer(help="SFTP drops: host key trust.", no_args_is_help=True)
app.add_typer(sftp_app, name="sftp")


@sftp_app.command("trust")
def sftp_trust_cmd(
    source: SourceOption,
    fingerprint: Annotated[str | None, typer.Option(
        help="The fingerprint (SHA256:...) the server's administrator confirmed; trusts without "
        "asking when the server presents exactly this key, refuses otherwise.")] = None,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Show the SFTP server's host key fingerprint and, once confirmed, add it to the source's
    known_hosts (the one way to trust a server)."""
    importer = _importer(config)
    check = importer.check_host_key(source)
    typer.echo(f"{check.host} presents host key {check.presented}")
    if check.already_trusted:
        typer.echo(f"Already trusted in {check.known_hosts}.")
        return
    if check.replaces is not None:
        typer.echo(f"WARNING: {check.known_hosts} trusts a DIFFERENT key of this type: "
                   f"{check.replaces}. Replace it only if the administrator confirms that the "
                   "server was re-keyed.")
    if fingerprint is None and not typer.confirm(
            "Has the server's administrator confirmed this fingerprint?", default=False):
        typer.echo("Not trusted; nothing written.")
        raise typer.Exit(1)
    importer.trust_host_key(check, fingerprint)
    typer.echo(f"Trusted: written to {check.known_hosts}.")
