"""`etl status`: one line per source for people and monitoring checks — exit 7 when a source is
overdue, failing, or its drop cannot be read."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import SAMPLES, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"
cli = CliRunner()


def config(tmp_path: Path, database_url: str, **source: object) -> str:
    path = write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style", "schedule": "0 3 * * 0",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}, **source}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True, exist_ok=True)
    return str(path)


def status(cfg: str):  # type: ignore[no-untyped-def]
    result = cli.invoke(app, ["status", "--config", cfg])
    line = next(x for x in result.output.splitlines() if x.startswith("lindenhof"))
    return result.exit_code, line, result.output


def test_a_source_that_ran_well_is_ok_and_shows_what_waits(tmp_path, database_url,
                                                           engine) -> None:
    cfg = config(tmp_path, database_url, max_age_hours=26)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    assert cli.invoke(app, ["run", "--config", cfg]).exit_code == 0
    shutil.copy(NOV, tmp_path / "drop" / "inbox" / "mieterliste_2026-12-01.csv")
    (tmp_path / "drop" / "inbox" / ".upload.part").write_text("x")
    code, line, _ = status(cfg)
    assert code == 0 and line.endswith("ok")
    assert "APPLIED" in line and "2026-11-01" in line
    cells = line.split()
    assert "1" in cells and "0" in cells  # one export waiting, none in error
    assert "03:00" in line  # Sunday 03:00, the next run


def test_a_rejected_export_makes_the_source_failing(tmp_path, database_url, engine) -> None:
    cfg = config(tmp_path, database_url)
    shutil.copy(BAD, tmp_path / "drop" / "inbox" / "mieterliste_2026-11-01.csv")
    cli.invoke(app, ["run", "--config", cfg])
    code, line, _ = status(cfg)
    assert code == 7 and line.endswith("FAILING") and "REJECTED" in line
    assert line.split()[-4] == "1"  # the export in error/ (its reports are not counted)


def test_a_source_without_a_success_in_time_is_overdue(tmp_path, database_url,
                                                       engine) -> None:
    cfg = config(tmp_path, database_url, max_age_hours=1)
    code, line, _ = status(cfg)
    assert code == 7 and "never" in line and line.endswith("OVERDUE")


def test_a_drop_that_cannot_be_read_is_named(tmp_path, database_url, engine) -> None:
    cfg = config(tmp_path, database_url)
    shutil.rmtree(tmp_path / "drop")
    (tmp_path / "drop").write_text("not a folder")
    code, line, output = status(cfg)
    assert code == 7 and line.endswith("DROP?")
    assert "lindenhof: " in output and "Traceback" not in output
