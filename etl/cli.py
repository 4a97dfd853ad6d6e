"""CLI: a thin shell over the pipeline. Exit codes: see README ("Exit codes")."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
import yaml

from etl import db, findings, load, report, schedule, sftp
from etl.config import AppConfig, load_config, load_mapping
from etl.errors import ConfigError, EtlError, GuardRefusal, HostKeyRefused
from etl.pipeline import ImportResult, check_export, group_exports, import_export
from etl.runner import Runner, SourcePass, summary_line

app = typer.Typer(
    help="Import ERP CSV exports into the tenant portal (one way: ERP -> portal).",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="config.yaml to use.", envvar="ETL_CONFIG")
]


def _fail(exc: EtlError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def _engine(cfg: AppConfig):  # type: ignore[no-untyped-def]
    return db.engine_for(cfg.database_url(os.environ))


db_app = typer.Typer(help="The portal database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_cmd(config: ConfigOption = Path("config.yaml")) -> None:
    """Create or upgrade the portal schema to the newest migration (Alembic)."""
    try:
        engine = _engine(load_config(config))
        db.upgrade(engine)
        typer.echo(f"schema at revision {db.current_revision(engine)}")
    except EtlError as exc:
        raise _fail(exc) from None


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
    try:
        cfg = load_config(config)
        spec = load_mapping(mapping, cfg.mappings_dir)
    except EtlError as exc:
        raise _fail(exc) from None
    exports = group_exports(files, spec)
    rejected = 0
    for paths in exports:
        result = check_export(paths, spec)
        counts = result.entities.counts() if result.entities else None
        typer.echo(report.summary(result.files, counts, result.findings, limit))
        if not result.ok:
            rejected += 1
            if report_path is not None:
                target = report_path if len(exports) == 1 else report_path.with_name(
                    f"{paths[0].stem}.fehler.csv")
                report.write_csv(result.findings, target)
                typer.echo(f"Report: {target}")
        typer.echo("")
    if rejected:
        raise typer.Exit(4)


@app.command("mappings")
def mappings_cmd(config: ConfigOption = Path("config.yaml")) -> None:
    """List the ERP mappings (dialects) that are available."""
    try:
        cfg = load_config(config)
        for path in sorted(cfg.mappings_dir.glob("*.yaml")):
            spec = load_mapping(str(path), cfg.mappings_dir)
            typer.echo(f"{spec.name:<20} {spec.title}")
    except EtlError as exc:
        raise _fail(exc) from None


@app.command("rules")
def rules_cmd() -> None:
    """List every validation rule with its German and English message."""
    typer.echo(yaml.safe_dump({k: {"de": r.de, "en": r.en} for k, r in findings.RULES.items()},
                              allow_unicode=True, sort_keys=True, width=100))


SourceOption = Annotated[str, typer.Option("--source", "-s", help="Source name in config.yaml.")]
FilesArgument = Annotated[list[Path], typer.Argument(
    help="The export: one file, or every file of a multi-file export.", exists=True,
    dir_okay=False, readable=True)]


def _import(files: list[Path], source: str, config: Path, dry_run: bool, reason: str | None,
            report_path: Path | None) -> None:
    try:
        cfg = load_config(config)
        src = cfg.source(source)
        spec = load_mapping(src.mapping, cfg.mappings_dir)
        engine = _engine(cfg)
        db.check_schema(engine)
        result = import_export(files, source, src, spec, engine, dry_run=dry_run,
                               override_reason=reason)
    except EtlError as exc:
        raise _fail(exc) from None
    _print_result(result)
    if result.status == "rejected" and report_path is not None:
        report.write_csv(result.findings, report_path)
        typer.echo(f"Report: {report_path}")
    if result.status in {"rejected", "refused"}:
        raise typer.Exit(GuardRefusal.exit_code)


def _print_result(result: ImportResult) -> None:
    typer.echo(f"Run {result.run_id}  source {result.source}  {result.status.upper()}")
    if result.status == "duplicate":
        typer.echo("Already applied (same content): nothing to do.")
        return
    if result.status == "rejected":
        typer.echo(report.summary(result.files, None, result.findings))
        return
    if result.verdict is not None:
        typer.echo(f"Guard: {result.verdict.label}")
        for _rule, _de, en in result.verdict.problems:
            typer.echo(f"  - {en}")
        if result.status == "refused":
            typer.echo("Nothing was written. Override with --force --reason '...' if intended.")
    if result.changes is not None:
        writes = {k: len(v) for k, v in result.changes.upserts.items() if len(v)}
        ends = {k: len(v) for k, v in result.changes.ended.items() if len(v)}
        typer.echo(f"Rows written: {writes or 'none'}; ended: {ends or 'none'}")
        summary = result.changes.summary()
        typer.echo("Events: " + (", ".join(f"{k} {v}" for k, v in summary.items()) or "none"))


@app.command("import")
def import_cmd(
    files: FilesArgument,
    source: SourceOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the change set, write "
                                          "nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Apply although the guard refuses "
                                        "(needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the guard is overridden; "
                                               "recorded with the run.")] = None,
    report_path: Annotated[Path | None, typer.Option(
        "--report", "-r", help="Where to write the error report of a rejected export.")] = None,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Apply one export to the portal database in one transaction (exit 0, 4 or 6)."""
    if force != bool(reason):
        raise typer.BadParameter("--force and --reason go together")
    _import(files, source, config, dry_run, reason if force else None, report_path)


@app.command("plan")
def plan_cmd(
    files: FilesArgument,
    source: SourceOption,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Show what importing the export would change; nothing is written (= import --dry-run)."""
    _import(files, source, config, True, None, None)


def _short_summary(text: str | None, width: int = 60) -> str:
    """Event counts of a run, cut to fit a terminal line."""
    line = ", ".join(f"{k} {v}" for k, v in json.loads(text or "{}").items())
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("runs")
def runs_cmd(
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """The import history, newest first."""
    try:
        frame = load.recent_runs(_engine(load_config(config)), source, limit)
    except EtlError as exc:
        raise _fail(exc) from None
    frame["summary"] = frame["summary"].map(_short_summary)
    typer.echo(frame.to_string(index=False) if len(frame) else "no runs yet")


@app.command("events")
def events_cmd(
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event type, e.g. moved.")] = None,
    limit: Annotated[int, typer.Option(help="How many events (the newest).")] = 50,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Recent change events (keys and field names only, never residents' data)."""
    try:
        frame = load.recent_events(_engine(load_config(config)), client, run, event, limit)
    except EtlError as exc:
        raise _fail(exc) from None
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        typer.echo(frame.fillna("").to_string(index=False) if len(frame) else "no events")


LogLevel = Annotated[str, typer.Option("--log-level", envvar="ETL_LOG_LEVEL",
                                       help="DEBUG, INFO, WARNING or ERROR (to stderr).")]


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("paramiko", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _runner(config: Path) -> Runner:
    cfg = load_config(config)
    engine = _engine(cfg)
    db.check_schema(engine)
    return Runner(cfg, engine)


def _finish(passes: list[SourcePass]) -> None:
    for done in passes:
        typer.echo(summary_line(done))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))


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
    try:
        runner = _runner(config)
        names = source or [n for n, s in runner.cfg.sources.items() if s.drop is not None]
        for name in names:
            if runner.cfg.source(name).drop is None:
                raise ConfigError(f"source {name!r} has no drop in {config}")
        passes = runner.run_all(names)
    except EtlError as exc:
        raise _fail(exc) from None
    _finish(passes)


@app.command("retry")
def retry_cmd(
    key: Annotated[str, typer.Argument(help="The export in the error folder: its file name, or "
                                       "the manifest of a multi-file export.")],
    source: SourceOption,
    force: Annotated[bool, typer.Option("--force", help="Apply although the guard refuses "
                                        "(needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the guard is overridden; "
                                               "recorded with the run.")] = None,
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Take an export out of the drop's error folder again (e.g. to override a guard refusal)."""
    if force != bool(reason):
        raise typer.BadParameter("--force and --reason go together")
    _logging(log_level)
    try:
        done = _runner(config).retry(source, key, override_reason=reason if force else None)
    except EtlError as exc:
        raise _fail(exc) from None
    _finish([done])


@app.command("schedule")
def schedule_cmd(
    log_level: LogLevel = "INFO",
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """The daemon: run each source on its cron schedule until SIGTERM (then finish the current
    file and exit 0)."""
    _logging(log_level)
    try:
        raise typer.Exit(schedule.serve(_runner(config)))
    except EtlError as exc:
        raise _fail(exc) from None


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
    try:
        cfg = load_config(config)
        src = cfg.source(source)
        if src.drop is None or src.drop.sftp is None:
            raise ConfigError(f"source {source!r} has no SFTP drop")
        server = src.drop.sftp
        known_hosts = cfg.known_hosts(server)
        key = sftp.server_key(server)
    except EtlError as exc:
        raise _fail(exc) from None
    typer.echo(f"{sftp.host_id(server)} presents host key {sftp.describe(key)}")
    current = sftp.trusted_key(known_hosts, server, key.get_name())
    if current is not None and current.asbytes() == key.asbytes():
        typer.echo(f"Already trusted in {known_hosts}.")
        return
    if current is not None:
        typer.echo(f"WARNING: {known_hosts} trusts a DIFFERENT key of this type: "
                   f"{sftp.describe(current)}. Replace it only if the administrator confirms "
                   "that the server was re-keyed.")
    if fingerprint is not None:
        if fingerprint != key.fingerprint:
            raise _fail(HostKeyRefused(f"the server presents {key.fingerprint}, not the "
                                       f"confirmed {fingerprint}: not trusted"))
    elif not typer.confirm("Has the server's administrator confirmed this fingerprint?",
                           default=False):
        typer.echo("Not trusted; nothing written.")
        raise typer.Exit(1)
    sftp.trust(known_hosts, server, key)
    typer.echo(f"Trusted: written to {known_hosts}.")
