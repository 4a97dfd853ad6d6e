"""Shell, the `etl` command: unattended operation — passes over the drops, retries, the daemon,
retention and erasure, SFTP host key trust."""

from __future__ import annotations

from typing import Annotated

import typer

from etl.cli.app import (
    ConfigOption,
    ForceOption,
    LogLevel,
    ReasonOption,
    SourceOption,
    app,
    finish,
    log_to_stderr,
    open_importer,
    override_reason,
)


@app.command("run")
def run_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source with a "
        "drop.")] = None,
    log_level: LogLevel = "INFO",
    config: ConfigOption = None,
) -> None:
    """One pass over the sources' drops: take every complete export, import it, archive it
    (or move it to error/ with a report). For cron and systemd timers; exit 0, 4, 5 or 6."""
    log_to_stderr(log_level)
    finish(open_importer(config).run(source))


@app.command("retry")
def retry_cmd(
    key: Annotated[str, typer.Argument(help="The export in the error folder: its file name, or "
                                       "the manifest of a multi-file export.")],
    source: SourceOption,
    force: ForceOption = False,
    reason: ReasonOption = None,
    log_level: LogLevel = "INFO",
    config: ConfigOption = None,
) -> None:
    """Take an export out of the drop's error folder again (e.g. to override a guard refusal)."""
    override = override_reason(force, reason)
    log_to_stderr(log_level)
    finish([open_importer(config).retry(source, key, override)])


@app.command("purge")
def purge_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due, delete "
                                          "nothing.")] = False,
    log_level: LogLevel = "INFO",
    config: ConfigOption = None,
) -> None:
    """Delete what the retention says is due: archived and rejected exports with their reports,
    staging copies, ended persons' personal fields (keys stay), old change events. Every `etl run`
    pass does it at its end too; exit 0, 5 or 6."""
    from etl import console


    log_to_stderr(log_level)
    importer = open_importer(config)
    passes = importer.purge(source, dry_run=dry_run)
    for done in passes:
        typer.echo(console.purge_line(done, dry_run, importer.kept_forever(done.source)))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))


@app.command("erase")
def erase_cmd(
    client: Annotated[str, typer.Option("--client", help="The client (Mandant) of the person.")],
    person: Annotated[str, typer.Option("--person", help="The person's key (Personennummer).")],
    config: ConfigOption = None,
) -> None:
    """Erase one ended person's personal fields now (an erasure request; keys stay). An active
    person is refused: the ERP is the master — erase there first (exit 0 or 4)."""
    run_id = open_importer(config).erase(client, person)
    if run_id is None:
        typer.echo(f"Person {person} of client {client} was erased before: nothing to do.")
    else:
        typer.echo(f"Person {person} of client {client}: personal fields erased (run {run_id}).")


@app.command("status")
def status_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source.")] = None,
    config: ConfigOption = None,
) -> None:
    """One line per source: the last run and its outcome, the last success and its export, what
    waits in the drop, what is in error/, the next scheduled run — OVERDUE (older than the
    source's max_age_hours) or FAILING. Exit 7 when a source needs attention (for monitoring)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from etl import console

    importer = open_importer(config)
    statuses = importer.status(source)
    typer.echo(console.status_table(statuses, ZoneInfo(importer.cfg.timezone),
                                    datetime.now(UTC)))
    raise typer.Exit(0 if all(st.ok for st in statuses) else NEEDS_ATTENTION)


NEEDS_ATTENTION = 7


@app.command("schedule")
def schedule_cmd(
    log_level: LogLevel = "INFO",
    config: ConfigOption = None,
) -> None:
    """The daemon: run each source on its cron schedule until SIGTERM (then finish the current
    file and exit 0)."""
    from etl import daemon


    log_to_stderr(log_level)
    raise typer.Exit(daemon.serve(open_importer(config).runner()))


sftp_app = typer.Typer(help="SFTP drops: host key trust.", no_args_is_help=True)
app.add_typer(sftp_app, name="sftp")


@sftp_app.command("trust")
def sftp_trust_cmd(
    source: SourceOption,
    fingerprint: Annotated[str | None, typer.Option(
        help="The fingerprint (SHA256:...) the server's administrator confirmed; trusts without "
        "asking when the server presents exactly this key, refuses otherwise.")] = None,
    config: ConfigOption = None,
) -> None:
    """Show the SFTP server's host key fingerprint and, once confirmed, add it to the source's
    known_hosts (the one way to trust a server)."""
    importer = open_importer(config)
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
