"""Shell, the `etl` command: the app, the options its commands share, and the one place where
errors of the project's tree become one line on stderr and the documented exit code
(``_Commands.invoke``; README "Exit codes")."""

from __future__ import annotations

import logging
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    add_completion=False,
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"etl {metadata.version('erp-portal-etl')}")
        raise typer.Exit


@app.callback()
def main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Import ERP CSV exports into the tenant portal (one way: ERP -> portal)."""


ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="config.yaml to use (default: ./config.yaml, or the embedded "
    "defaults without it); one named here or in ETL_CONFIG must exist.", envvar="ETL_CONFIG")]
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


def log_to_stderr(level: str) -> None:
    logging.basicConfig(level=level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def finish(passes: list[SourcePass]) -> None:
    from etl import console

    for done in passes:
        typer.echo(console.summary_line(done))
    raise typer.Exit(max((p.exit_code for p in passes), default=0))
