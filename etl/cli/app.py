"""Shell, the `etl` command: the app, the options its commands share, and the one place where
errors of the project's tree become one line on stderr and the documented exit code
(``_Commands.invoke``; README "Exit codes")."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from dotenv import dotenv_values
from typer.core import TyperGroup

from etl.core.errors import ConfigError, EtlError

if TYPE_CHECKING:  # the heavy modules are imported by the commands that use them
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
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # the command line's own: usage errors (2), an answer (Exit), Ctrl-C
        except BrokenPipeError:  # `etl runs | head -1`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # a bug: one line here; the traceback at --log-level DEBUG
            logging.getLogger(__name__).debug("unexpected error", exc_info=exc)
            typer.echo(f"error: unexpected {type(exc).__name__} — a bug, please report it "
                       "(its traceback: --log-level DEBUG)", err=True)
            raise typer.Exit(1) from None
        finally:
            while _opened:
                _opened.pop().close()


_opened: list[Importer] = []


app = typer.Typer(
    cls=_Commands,
    help="Import ERP CSV exports into the tenant portal (one way: ERP -> portal).",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=True,
    epilog="Example: etl -c /etc/etl/config.yaml run --source lindenhof",
)

def _version(value: bool) -> None:
    if value:
        from importlib import metadata  # 20 ms: only for --version

        typer.echo(f"etl {metadata.version('erp-portal-etl')}")
        raise typer.Exit


class LogFormat(StrEnum):  # etl.console.logs.LogFormat, without importing it for --help
    AUTO = "auto"
    TEXT = "text"
    JSON = "json"
    JOURNAL = "journal"


class Level(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="config.yaml to use (default: ./config.yaml, or the embedded "
    "defaults without it); one named here or in ETL_CONFIG must exist.", envvar="ETL_CONFIG",
    show_default=False)]
LogLevel = Annotated[Level | None, typer.Option(
    "--log-level", envvar="ETL_LOG_LEVEL", case_sensitive=False, show_default=False,
    help="What to log to stderr (default INFO).")]
LogFormatOption = Annotated[LogFormat | None, typer.Option(
    "--log-format", envvar="ETL_LOG_FORMAT", case_sensitive=False, show_default=False,
    help="Log lines as text, json or journal (systemd); default auto: journal under systemd, "
    "text on a terminal, JSON otherwise.")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bars; log warnings and errors only.")]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="JSON lines for scripts, one object per line.")]
SourceOption = Annotated[str, typer.Option("--source", "-s", help="Source name in config.yaml.")]
SourcesOption = Annotated[list[str] | None, typer.Option(
    "--source", "-s", help="Only this source (repeatable); default: every source.")]
FilesArgument = Annotated[list[Path], typer.Argument(
    help="The export: one file, or every file of a multi-file export.", exists=True,
    dir_okay=False, readable=True)]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Apply although the guard refuses (needs --reason).")]
ReasonOption = Annotated[str | None, typer.Option(
    "--reason", help="Why the guard is overridden; recorded with the run.")]


@dataclass
class Globals:
    """The options given before the command (``etl -c FILE --log-level DEBUG run``); the same
    option after the command wins."""

    config: Path | None = None
    log_level: Level | None = None
    log_format: LogFormat | None = None
    quiet: bool = False


@app.callback()
def main(
    config: ConfigOption = None,
    log_level: LogLevel = None,
    log_format: LogFormatOption = None,
    quiet: QuietOption = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Import ERP CSV exports into the tenant portal (one way: ERP -> portal)."""
    _given.config, _given.log_level, _given.log_format = config, log_level, log_format
    _given.quiet = quiet


_given = Globals()  # one command per process: set by the app's callback before the command


def environment() -> dict[str, str]:
    """The process environment, and the variables of ``ETL_ENV_FILE`` (KEY=VALUE lines, quotes
    as in systemd's EnvironmentFile, no expansion; a missing file adds nothing) where the
    environment does not set them — so that a crontab line needs no shell to read secrets."""
    values = dotenv_values(os.environ["ETL_ENV_FILE"], interpolate=False) \
        if os.environ.get("ETL_ENV_FILE") else {}
    return {**{k: v for k, v in values.items() if v is not None}, **os.environ}


def open_importer(config: Path | None) -> Importer:
    """The importer of ``--config``: a file named explicitly must exist; without one,
    ./config.yaml or the embedded defaults."""
    from etl.importer import Importer

    config = config or _given.config
    if config is not None and not config.is_file():
        raise ConfigError(f"configuration {config} does not exist")
    importer = Importer.open(config or Path("config.yaml"), environment())
    _opened.append(importer)
    os.umask(int(importer.cfg.umask, 8))  # before anything is created
    return importer


def override_reason(force: bool, reason: str | None) -> str | None:
    """The override reason of ``--force --reason``; the two go together."""
    if force != bool(reason):
        raise typer.BadParameter("--force and --reason go together")
    return reason if force else None


def log_to_stderr(level: Level | None, log_format: LogFormat | None = None,
                  quiet: bool = False) -> None:
    """Logging to stderr at the command's --log-level and --log-format, else the app's, else
    INFO (WARNING with --quiet) and auto (etl.console.logs)."""
    from etl.console import logs

    default = Level.WARNING if quiet or _given.quiet else Level.INFO
    logs.configure((level or _given.log_level or default).value,
                   logs.LogFormat(log_format or _given.log_format or LogFormat.AUTO))


def progress_bars(quiet: bool) -> AbstractContextManager[None]:
    """Progress bars on stderr while the block runs — on a terminal, without --quiet."""
    from etl.console.progress import bars

    return bars(quiet or _given.quiet)


def echo_json(records: Iterable[dict[str, Any]]) -> None:
    """JSON lines on stdout (`--json`), one per record."""
    from etl.console.records import line

    for record in records:
        typer.echo(line(record))


def zone(importer: Importer) -> ZoneInfo:
    """The configured time zone, in which times are shown."""
    return ZoneInfo(importer.cfg.timezone)


def finish(passes: list[SourcePass], json_lines: bool = False) -> None:
    """The passes' lines (or JSON lines), and the most severe exit code."""
    from etl.console import records, text

    if json_lines:
        echo_json(records.source_pass(done) for done in passes)
    for done in [] if json_lines else passes:
        typer.echo(text.summary_line(done))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))
