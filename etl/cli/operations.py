"""Shell, the `etl` command: unattended operation — passes over the drops, retries, the daemon,
retention and erasure, SFTP host key trust."""

from __future__ import annotations

from typing import Annotated

import typer

from etl.cli.app import (
    ConfigOption,
    ForceOption,
    JsonOption,
    LogFormatOption,
    LogLevel,
    QuietOption,
    ReasonOption,
    SourceOption,
    SourcesOption,
    app,
    echo_json,
    finish,
    log_to_stderr,
    open_importer,
    override_reason,
    progress_bars,
    zone,
)


@app.command("run", epilog="Example: etl run --source lindenhof")
def run_cmd(
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source (repeatable); default: every source with a "
        "drop.")] = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """One pass over the sources' drops, for cron and systemd timers.

    Every complete export is imported and archived, or moved to error/ with a report; exit 0,
    4, 5 or 6. With --json: one object per source."""
    log_to_stderr(log_level, log_format, quiet)
    importer = open_importer(config)
    with progress_bars(quiet):
        passes = importer.run(source)
    finish(passes, json_lines)


@app.command("retry", epilog="Example: etl retry mieterliste_2026-12-01.csv -s lindenhof "
             "--force --reason 'Umzugswelle geprüft'")
def retry_cmd(
    key: Annotated[str, typer.Argument(help="The export in the error folder: its file name, or "
                                       "the manifest of a multi-file export.")],
    source: SourceOption,
    force: ForceOption = False,
    reason: ReasonOption = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Take an export out of the drop's error folder again.

    E.g. to apply a guard refusal the operator checked (--force --reason)."""
    override = override_reason(force, reason)
    log_to_stderr(log_level, log_format, quiet)
    importer = open_importer(config)
    with progress_bars(quiet):
        done = importer.retry(source, key, override)
    finish([done], json_lines)


@app.command("purge", epilog="Example: etl purge --dry-run")
def purge_cmd(
    source: SourcesOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due, delete "
                                          "nothing.")] = False,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete what the retention says is due.

    Archived and rejected exports with their reports, staging copies, ended persons' personal
    fields (keys stay), old change events. Every `etl run` pass does it at its end too; exit 0,
    5 or 6."""
    from etl.console import text as console

    log_to_stderr(log_level, log_format)
    importer = open_importer(config)
    passes = importer.purge(source, dry_run=dry_run)
    for done in passes:
        typer.echo(console.purge_line(done, dry_run, importer.kept_forever(done.source)))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))


@app.command("erase", epilog="Example: etl erase --client wg-lindenhof --person 100234")
def erase_cmd(
    client: Annotated[str, typer.Option("--client", help="The client (Mandant) of the person.")],
    person: Annotated[str, typer.Option("--person", help="The person's key (Personennummer).")],
    config: ConfigOption = None,
) -> None:
    """Erase one ended person's personal fields now (an erasure request; keys stay).

    An active person is refused: the ERP is the master — erase there first (exit 0 or 4)."""
    run_id = open_importer(config).erase(client, person)
    if run_id is None:
        typer.echo(f"Person {person} of client {client} was erased before: nothing to do.")
    else:
        typer.echo(f"Person {person} of client {client}: personal fields erased (run {run_id}).")


@app.command("status", epilog="Example: etl status --json   (a monitoring check)")
def status_cmd(
    source: SourcesOption = None,
    json_lines: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """One line per source, for people and monitoring; exit 7 when a source needs attention.

    The last run and its outcome, the last success and its export, what waits in the drop, what
    is in error/, the next scheduled run — OVERDUE (older than the source's max_age_hours),
    FAILING or DROP? (the drop cannot be read)."""
    from datetime import UTC, datetime

    from etl.console import records, text

    importer = open_importer(config)
    statuses = importer.status(source)
    if json_lines:
        echo_json(records.status(st, zone(importer)) for st in statuses)
    else:
        typer.echo(text.status_table(statuses, zone(importer), datetime.now(UTC)))
    raise typer.Exit(0 if all(st.ok for st in statuses) else NEEDS_ATTENTION)


NEEDS_ATTENTION = 7


@app.command("doctor", epilog="Example: etl -c /etc/etl/config.yaml doctor")
def doctor_cmd(
    json_lines: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Check that this installation is ready to import; one line per check, with what to fix.

    Configuration, work folder, database (reachable, schema current), each source's mapping and
    drop (folder, or SFTP login with a verified host key), each mapping against the newest export
    in its inbox, the metrics folder. Nothing is imported or moved. Exit 0 when all pass, else
    the code of the most severe failure (3, 4, 5 or 6)."""
    from etl.console import records, text
    from etl.core.errors import ConfigError
    from etl.runner.doctor import Check

    try:
        checks = open_importer(config).doctor()
    except ConfigError as exc:
        checks = [Check("config", False, str(exc), "fix config.yaml", exc.exit_code)]
    if json_lines:
        echo_json(records.check_line(c) for c in checks)
    else:
        typer.echo(text.doctor_lines(checks))
    raise typer.Exit(max((c.exit_code for c in checks if not c.ok), default=0))


@app.command("schedule", epilog="Example: etl -c /etc/etl/config.yaml schedule")
def schedule_cmd(
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    config: ConfigOption = None,
) -> None:
    """The daemon: each source on its cron schedule, until SIGTERM.

    On SIGTERM or SIGINT it finishes the file being imported and exits 0."""
    from etl import daemon


    log_to_stderr(log_level, log_format)
    raise typer.Exit(daemon.serve(open_importer(config).runner()))


sftp_app = typer.Typer(help="SFTP drops: host key trust.", no_args_is_help=True)
app.add_typer(sftp_app, name="sftp")


@sftp_app.command("trust", epilog="Example: etl sftp trust -s lindenhof --fingerprint "
                  "SHA256:...")
def sftp_trust_cmd(
    source: SourceOption,
    fingerprint: Annotated[str | None, typer.Option(
        help="The fingerprint (SHA256:...) the server's administrator confirmed; trusts without "
        "asking when the server presents exactly this key, refuses otherwise.")] = None,
    config: ConfigOption = None,
) -> None:
    """Show the SFTP server's host key and, once confirmed, trust it.

    The fingerprint is added to the source's known_hosts: the one way to trust a server."""
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
