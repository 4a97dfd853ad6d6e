"""`etl status`: one line per source for people and monitoring checks — exit 7 when a source is
overdue, failing, or its drop cannot be read."""

from __future__ import annotations

import shutil
import subprocess
import sys
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


def test_an_sqlite_file_is_read_as_the_store_reads_it(tmp_path) -> None:
    """`etl status` reads a plain SQLite file with sqlite3 (etl.store.glance): the same runs,
    times in UTC, as Database reads through SQLAlchemy."""
    from etl.store import Database
    from etl.store.glance import SqliteRuns

    url = f"sqlite:///{tmp_path / 'portal.db'}"
    cfg = config(tmp_path, url)
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    shutil.copy(BAD, tmp_path / "drop" / "inbox" / "mieterliste_2026-10-01.csv")
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    cli.invoke(app, ["run", "--config", cfg])
    database = Database.connect(url)
    newest, success = SqliteRuns(tmp_path / "portal.db").last_runs("lindenhof")
    assert (newest, success) == database.last_runs("lindenhof")
    database.dispose()
    assert newest is not None and success is not None
    assert newest["status"] == "applied" and newest["finished_at"].tzinfo is not None
    assert success["export_time"].tzinfo is not None
    assert SqliteRuns(tmp_path / "portal.db").last_runs("elsewhere") == (None, None)


def test_status_on_a_missing_sqlite_file_says_to_upgrade_and_creates_nothing(tmp_path) -> None:
    cfg = config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}")
    result = cli.invoke(app, ["status", "--config", cfg])
    assert result.exit_code == 3 and "etl db upgrade" in result.output
    assert not (tmp_path / "portal.db").exists()


def test_status_on_sqlite_starts_without_the_heavy_libraries(tmp_path) -> None:
    """What makes `etl status` start fast (bench/bench_cli.py measures it): on an SQLite file it
    imports neither pandas, pyarrow, SQLAlchemy, Alembic nor paramiko."""
    cfg = config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}")
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "etl", "-c", cfg, "status"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "lindenhof" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "etl.runner.status" in imported
    assert not imported & {"pandas", "pyarrow", "sqlalchemy", "alembic", "paramiko", "numpy"}
