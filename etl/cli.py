"""CLI: a thin shell over the pipeline. Exit codes: see README ("Exit codes")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from etl import findings, report
from etl.config import load_config, load_mapping
from etl.errors import EtlError
from etl.pipeline import check_export, group_exports

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
