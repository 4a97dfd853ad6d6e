"""The CLI: exit codes, the error report file, help texts and README coverage."""

from __future__ import annotations

import codecs
import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from etl.cli import app
from etl.drops import report
from tests.conftest import ROOT, SAMPLES

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["--help"] if not args else list(args), catch_exceptions=False)


def test_valid_exports_exit_zero() -> None:
    for dialect, folder in (("wodis-style", "wodis-style"), ("sap-style", "sap-style"),
                            ("generic", "generic")):
        files = [str(p) for p in sorted((SAMPLES / folder).glob("*.csv"))]
        result = _run("validate", *files, "--mapping", dialect,
                      "--config", str(ROOT / "config.yaml"))
        assert result.exit_code == 0, result.output
        assert "Valid: no errors." in result.output


def test_invalid_export_exits_4_and_writes_a_german_report(tmp_path: Path) -> None:
    bad = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"
    out = tmp_path / "r" / "report.csv"
    result = _run("validate", str(bad), "-m", "wodis-style", "--report", str(out),
                  "--config", str(ROOT / "config.yaml"))
    assert result.exit_code == 4
    assert "email.format" in result.output
    assert "stefan.schaefer" not in result.output  # personal data is masked on screen too
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Datei", "Zeile", "Spalte", "Wert", "Regel", "Schwere", "Meldung",
                       "Message (English)"]
    assert rows[1][1:7] == ["12", "E-Mail", "(ausgeblendet)", "email.format", "Fehler",
                            "E-Mail-Adresse ungültig."]


def test_several_exports_get_one_report_each(tmp_path: Path) -> None:
    bad = SAMPLES / "bad" / "wodis-style"
    files = [str(bad / "invalid_email.csv"), str(bad / "unknown_role.csv")]
    result = _run("validate", *files, "-m", "wodis-style", "-r", str(tmp_path / "x.csv"),
                  "--config", str(ROOT / "config.yaml"))
    assert result.exit_code == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "invalid_email.fehler.csv", "unknown_role.fehler.csv"]


def test_report_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    found = pd.DataFrame({
        "file": ["a.csv"] * 4, "line": [2, 3, 4, 5], "column": ["Lage"] * 4,
        "value": ["=HYPERLINK(\"x\")", "+49 30 1", "-5", "@SUM(A1)"], "rule": ["r"] * 4,
        "message_de": ["m"] * 4, "message_en": ["m"] * 4, "severity": ["error"] * 4,
    })
    report.write_csv(found, tmp_path / "r.csv")
    values = [row[3] for row in csv.reader(
        io.StringIO((tmp_path / "r.csv").read_text("utf-8-sig")), delimiter=";")][1:]
    assert values == ["'=HYPERLINK(\"x\")", "'+49 30 1", "'-5", "'@SUM(A1)"]


def test_broken_mapping_exits_3_listing_every_problem(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    shutil.copy(ROOT / "mappings" / "wodis-style.yaml", tmp_path / "mappings" / "x.yaml")
    text = (tmp_path / "mappings" / "x.yaml").read_text(encoding="utf-8")
    text = text.replace("map: usage_type", "map: nutzung").replace("map: role", "map: rollen")
    (tmp_path / "mappings" / "x.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "config.yaml").write_text("mappings_dir: mappings\n", encoding="utf-8")
    sample = next((SAMPLES / "wodis-style").glob("*.csv"))
    result = runner.invoke(app, ["validate", str(sample), "-m", "x", "-c",
                                 str(tmp_path / "config.yaml")])
    assert result.exit_code == 3
    assert "nutzung" in result.output and "rollen" in result.output
    assert "Traceback" not in result.output


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("mapping_dir: x\n", encoding="utf-8")
    result = runner.invoke(app, ["mappings", "-c", str(tmp_path / "config.yaml")])
    assert result.exit_code == 3
    assert "mapping_dir" in result.output


def test_mappings_lists_every_dialect() -> None:
    result = _run("mappings", "--config", str(ROOT / "config.yaml"))
    assert result.exit_code == 0
    for name in ("wodis-style", "sap-style", "generic"):
        assert name in result.output


def test_rules_lists_every_rule_in_both_languages() -> None:
    result = _run("rules")
    assert "email.format" in result.output and "E-Mail-Adresse ungültig." in result.output


def _commands() -> list[str]:
    return sorted(get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", _commands())
def test_every_command_has_help_and_is_in_the_readme(name: str) -> None:
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    assert command.help and command.help.strip()
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, f"{name} {param.name} lacks help"
    assert f"etl {name}" in (ROOT / "README.md").read_text(encoding="utf-8")


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"mappings_dir: {ROOT / 'mappings'}\n"
        f"database: {{url: 'sqlite:///{tmp_path / 'portal.db'}'}}\n"
        "sources:\n  lindenhof: {client: wg-lindenhof, mapping: wodis-style}\n",
        encoding="utf-8")
    return cfg


def test_import_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    nov = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
    result = runner.invoke(app, ["import", str(nov), "-s", "lindenhof", "-c", str(cfg)])
    assert result.exit_code == 3
    assert "etl db upgrade" in result.output


def test_import_plan_runs_and_events_end_to_end(tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    nov = str(SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv")
    dec = str(SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv")
    assert _run("db", "upgrade", "-c", cfg).exit_code == 0
    first = _run("import", nov, "-s", "lindenhof", "-c", cfg)
    assert first.exit_code == 0 and "APPLIED" in first.output
    assert "initial_import 6" in first.output
    plan = _run("plan", dec, "-s", "lindenhof", "-c", cfg)
    assert plan.exit_code == 4 and "REFUSED" in plan.output
    assert "4 of 14 active tenancies" in plan.output
    applied = _run("import", dec, "-s", "lindenhof", "-c", cfg, "--force", "--reason",
                   "Umzugswelle geprüft")
    assert applied.exit_code == 0 and "overridden" in applied.output
    assert "moved 4" in applied.output
    runs = _run("runs", "-c", cfg)
    assert "Umzugswelle geprüft" in runs.output and runs.output.count("lindenhof") == 2
    moved = _run("events", "--event", "moved", "-c", cfg)
    assert moved.output.count(" moved ") == 4 and "0051/01/003" in moved.output
    again = _run("import", dec, "-s", "lindenhof", "-c", cfg)
    assert again.exit_code == 0 and "DUPLICATE" in again.output
    bad = SAMPLES / "bad" / "wodis-style" / "unknown_role.csv"
    rejected = _run("import", str(bad), "-s", "lindenhof", "-c", cfg, "-r",
                    str(tmp_path / "r.csv"))
    assert rejected.exit_code == 4 and "REJECTED" in rejected.output
    assert (tmp_path / "r.csv").read_text("utf-8-sig").count("value.unknown") == 1


def test_force_needs_a_reason(tmp_path: Path) -> None:
    nov = str(SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv")
    result = runner.invoke(app, ["import", nov, "-s", "lindenhof", "--force"])
    assert result.exit_code == 2


def test_password_in_config_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("database: {url: 'postgresql+psycopg://etl:geheim@db/portal'}\n")
    result = runner.invoke(app, ["runs", "-c", str(cfg)])
    assert result.exit_code == 3
    assert "password" in result.output and "geheim" not in result.output


def test_drop_and_schedule_settings_are_checked_all_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "mappings_dir": str(ROOT / "mappings"),
        "timezone": "Europe/Atlantis",
        "sources": {
            "wasserturm": {"client": "w", "mapping": "sap-style", "schedule": "0 3 * *",
                           "drop": {"path": "d"}},
            "lindenhof": {"client": "l", "mapping": "wodis-style", "schedule": "61 * * * *",
                          "drop": {"manifest": "*.mf", "marker": "done"}},
            "havel": {"client": "h", "mapping": "wodis-style",
                      "drop": {"sftp": {"host": "sftp.example", "user": "erp",
                                        "host_key_fingerprint": "MD5:12:34"}}},
        }}), encoding="utf-8")
    result = runner.invoke(app, ["run", "-c", str(cfg)])
    assert result.exit_code == 3
    for expected in ("Europe/Atlantis", "needs 5 fields", "61", "marker",
                     "host_key_fingerprint"):
        assert expected in result.output, expected
    cfg.write_text(yaml.safe_dump({
        "mappings_dir": str(ROOT / "mappings"),
        "sources": {"wasserturm": {"client": "w", "mapping": "sap-style", "drop": {}},
                    "lindenhof": {"client": "l", "mapping": "wodis-style",
                                  "drop": {"manifest": "*.mf"}}}}), encoding="utf-8")
    result = runner.invoke(app, ["run", "-c", str(cfg)])
    assert result.exit_code == 3
    assert "sources.wasserturm.drop.manifest: mapping 'sap-style' has several files" in \
        result.output
    assert "sources.lindenhof.drop.manifest: only for multi-file mappings" in result.output
    cfg.write_text(yaml.safe_dump({"sources": {"havel": {
        "client": "h", "mapping": "wodis-style",
        "drop": {"sftp": {"host": "sftp.example", "user": "erp"}}}}}), encoding="utf-8")
    result = runner.invoke(app, ["run", "-c", str(cfg)])
    assert result.exit_code == 3
    assert "sources.havel.drop.sftp: Value error, needs key_file, password_env or " \
        "password_file" in result.output


def test_run_without_a_drop_and_schedule_without_schedules_explain(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner.invoke(app, ["db", "upgrade", "-c", str(cfg)])
    result = runner.invoke(app, ["run", "-s", "lindenhof", "-c", str(cfg)])
    assert result.exit_code == 3 and "has no drop" in result.output
    result = runner.invoke(app, ["schedule", "-c", str(cfg)])
    assert result.exit_code == 3 and "no source has both a drop and a schedule" in result.output
    result = runner.invoke(app, ["run", "-c", str(cfg)])  # no source has a drop: nothing to do
    assert result.exit_code == 0


def test_an_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path,
                                                           monkeypatch) -> None:
    """Only ./config.yaml may be missing (then the embedded defaults apply); a file named
    with --config or ETL_CONFIG must exist — a typo must not run on defaults."""
    missing = str(tmp_path / "nope.yaml")
    result = runner.invoke(app, ["runs", "--config", missing])
    assert result.exit_code == 3 and f"configuration {missing} does not exist" in result.output
    monkeypatch.setenv("ETL_CONFIG", missing)
    result = runner.invoke(app, ["mappings"])
    assert result.exit_code == 3 and "does not exist" in result.output
    assert not (tmp_path / "portal.db").exists()


def test_version_is_printed() -> None:
    from importlib import metadata

    result = _run("--version")
    assert result.exit_code == 0 and result.output.strip() == (
        f"etl {metadata.version('erp-portal-etl')}")


_POOL = """import sys
sys.argv = ["etl", "--version"]
from etl.cli import main
try:
    main()
except SystemExit:
    pass
import pyarrow
print(pyarrow.default_memory_pool().backend_name)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="jemalloc is chosen on Linux only")
@pytest.mark.parametrize(("given", "used"), [(None, "jemalloc"), ("system", "system")])
def test_the_command_lets_arrow_allocate_from_jemalloc_unless_told_otherwise(
        given: str | None, used: str) -> None:
    """The `etl` command's Arrow allocates from jemalloc (faster and smaller than the default
    mimalloc for an import); an operator's ARROW_DEFAULT_MEMORY_POOL wins."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if given:
        env["ARROW_DEFAULT_MEMORY_POOL"] = given
    done = subprocess.run([sys.executable, "-c", _POOL], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.splitlines()[-1] == used
    assert done.stderr == ""
