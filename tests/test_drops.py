"""The unattended pipeline on local drops, against SQLite and PostgreSQL: pickup, import,
settlement into archive/ and error/ with reports, retries, locks, `etl run` and the daemon."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.core.config import load_config
from etl.runner import Runner
from etl.store import Database
from tests.conftest import SAMPLES, dump, slow_upload, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "excel_scientific_keys.csv"
TODAY = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
ARCHIVE = "archive/2026/11/27"


def lindenhof(root: Path, **drop: object) -> dict:
    return {"lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                          "drop": {"path": str(root / "drop"), "settle_seconds": 0, **drop}}}


@pytest.fixture
def setup(tmp_path: Path, database_url: str, engine):
    """A config with a local drop for lindenhof; returns (runner, drop folder)."""

    def make(**drop: object) -> tuple[Runner, Path]:
        cfg = load_config(write_config(tmp_path, database_url, lindenhof(tmp_path, **drop)))
        (tmp_path / "drop" / "inbox").mkdir(parents=True, exist_ok=True)
        return Runner(cfg, Database(engine), clock=lambda: TODAY), tmp_path / "drop"

    return make


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def applied(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM etl_file WHERE outcome IN ('applied', 'unchanged') ORDER BY name")).scalars())


def test_exports_are_applied_oldest_first_and_archived(setup, engine) -> None:
    runner, drop = setup()
    shutil.copy(DEC, drop / "inbox")
    shutil.copy(NOV, drop / "inbox")
    done = runner.run("lindenhof")
    assert [(o.key, o.status) for o in done.outcomes] == [
        ("mieterliste_2026-11-01.csv", "applied"), ("mieterliste_2026-12-01.csv", "refused")]
    assert done.exit_code == 4
    assert files(drop) == {f"{ARCHIVE}/mieterliste_2026-11-01.csv",
                           f"{ARCHIVE}/mieterliste_2026-11-01.bericht.html",
                           "error/mieterliste_2026-12-01.csv",
                           "error/mieterliste_2026-12-01.fehler.txt",
                           "error/mieterliste_2026-12-01.bericht.html"}
    text = (drop / "error/mieterliste_2026-12-01.fehler.txt").read_text("utf-8-sig")
    assert "ANGEHALTEN" in text and "4 von 14" in text and "--force --reason" in text
    assert applied(engine) == ["mieterliste_2026-11-01.csv"]  # the inbox name, not staging's

    retried = runner.retry("lindenhof", "mieterliste_2026-12-01.csv",
                           override_reason="Umzugswelle geprüft")
    assert [(o.status, o.settled_in) for o in retried.outcomes] == [("applied", ARCHIVE)]
    assert files(drop) == {f"{ARCHIVE}/mieterliste_2026-11-01.csv",
                           f"{ARCHIVE}/mieterliste_2026-11-01.bericht.html",
                           f"{ARCHIVE}/mieterliste_2026-12-01.csv",
                           f"{ARCHIVE}/mieterliste_2026-12-01.fehler.txt",
                           f"{ARCHIVE}/mieterliste_2026-12-01.bericht.html",  # the refusal's
                           f"{ARCHIVE}/mieterliste_2026-12-01.bericht~2.html"}  # the apply's
    with engine.connect() as conn:
        reason = conn.execute(sa.text("SELECT override_reason FROM etl_run WHERE override_reason "
                                      "IS NOT NULL")).scalar_one()
    assert reason == "Umzugswelle geprüft"


def test_a_rejected_export_goes_to_error_with_its_reports_and_writes_nothing(
        setup, engine) -> None:
    runner, drop = setup()
    before = dump(engine)
    shutil.copy(BAD, drop / "inbox" / "mieterliste_2026-11-01.csv")
    done = runner.run("lindenhof")
    assert [o.status for o in done.outcomes] == ["rejected"] and done.exit_code == 4
    assert dump(engine) == before
    assert files(drop) == {"error/mieterliste_2026-11-01.csv",
                           "error/mieterliste_2026-11-01.fehler.csv",
                           "error/mieterliste_2026-11-01.fehler.txt",
                           "error/mieterliste_2026-11-01.bericht.html"}
    report = (drop / "error/mieterliste_2026-11-01.fehler.csv").read_text("utf-8-sig")
    assert report.startswith("Datei;Zeile;Spalte;Wert;Regel;Schwere;Meldung")
    assert "mieterliste_2026-11-01.csv;" in report and "staging" not in report
    text = (drop / "error/mieterliste_2026-11-01.fehler.txt").read_text("utf-8-sig")
    assert "ABGELEHNT" in text and "Zeile" in text and "mieterliste_2026-11-01.fehler.csv" in text


def test_the_archive_never_overwrites_and_a_re_upload_is_not_applied_twice(
        setup, engine) -> None:
    runner, drop = setup()
    for _ in range(3):
        shutil.copy(NOV, drop / "inbox")
        runner.run("lindenhof")
    assert files(drop) == {f"{ARCHIVE}/mieterliste_2026-11-01{n}{ext}" for n in ("", "~2", "~3")
                           for ext in (".csv", ".bericht.html")}
    assert applied(engine) == ["mieterliste_2026-11-01.csv"]


def test_a_failure_while_settling_neither_loses_nor_re_applies_the_import(
        setup, engine) -> None:
    runner, drop = setup()
    (drop / "archive").write_text("a file where the archive folder should be")
    shutil.copy(NOV, drop / "inbox")
    done = runner.run("lindenhof")
    [outcome] = done.outcomes
    assert outcome.status == "applied" and outcome.settled_in is None
    assert done.exit_code == 5
    assert files(drop) == {"archive", "inbox/mieterliste_2026-11-01.csv"}
    state = dump(engine)
    (drop / "archive").unlink()
    again = runner.run("lindenhof")
    assert [(o.status, o.settled_in) for o in again.outcomes] == [("duplicate", ARCHIVE)]
    assert again.exit_code == 0
    tables = {"tenancy", "person", "etl_applied", "change_event"}
    assert dump(engine, list(tables)) == {k: v for k, v in state.items() if k in tables}


def test_a_file_still_being_written_is_not_taken(setup, engine) -> None:
    runner, drop = setup(settle_seconds=1.5)
    target = drop / "inbox" / "mieterliste_2026-11-01.csv"
    data = NOV.read_bytes()
    with slow_upload(lambda: target.open("wb"), data):
        done = runner.run("lindenhof")
    assert done.outcomes == [] and done.waiting == ["mieterliste_2026-11-01.csv"]
    assert applied(engine) == []
    target.write_bytes(data)  # the upload finished
    assert [o.status for o in runner.run("lindenhof").outcomes] == ["applied"]


def test_marker_mode(setup, engine) -> None:
    runner, drop = setup(marker=".ok")
    shutil.copy(NOV, drop / "inbox")
    assert runner.run("lindenhof").waiting == ["mieterliste_2026-11-01.csv"]
    (drop / "inbox" / "mieterliste_2026-11-01.ok").touch()
    done = runner.run("lindenhof")
    assert [o.status for o in done.outcomes] == ["applied"]
    assert files(drop) == {f"{ARCHIVE}/mieterliste_2026-11-01.csv",
                           f"{ARCHIVE}/mieterliste_2026-11-01.ok",
                           f"{ARCHIVE}/mieterliste_2026-11-01.bericht.html"}


SAP_DIR = SAMPLES / "sap-style"


def wasserturm(tmp_path: Path, database_url: str, engine) -> tuple[Runner, Path]:
    sources = {"wasserturm": {"client": "wbg-wasserturm", "mapping": "sap-style",
                              "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0,
                                       "manifest": "RE_*.manifest"}}}
    cfg = load_config(write_config(tmp_path, database_url, sources))
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    for path in SAP_DIR.glob("RE_*"):
        shutil.copy(path, inbox)
    return Runner(cfg, Database(engine), clock=lambda: TODAY), tmp_path / "drop"


def test_a_multi_file_set_is_imported_as_one_export(tmp_path, database_url, engine) -> None:
    runner, drop = wasserturm(tmp_path, database_url, engine)
    done = runner.run("wasserturm")
    assert [(o.key, o.status) for o in done.outcomes] == [("RE_20261101.manifest", "applied")]
    assert files(drop) == {f"{ARCHIVE}/{p.name}" for p in SAP_DIR.glob("RE_*")} | {
        f"{ARCHIVE}/RE_20261101.bericht.html"}
    assert len(applied(engine)) == 6


@pytest.mark.parametrize("damage", ["truncated", "missing", "checksum"])
def test_a_set_with_a_damaged_member_is_refused_as_a_whole(
        tmp_path, database_url, engine, damage: str) -> None:
    runner, drop = wasserturm(tmp_path, database_url, engine)
    before = dump(engine)
    member = drop / "inbox" / "RE_MV_20261101.csv"
    if damage == "truncated":
        member.write_bytes(member.read_bytes()[:-40])
    elif damage == "missing":
        member.unlink()
    else:  # same size, different bytes
        data = bytearray(member.read_bytes())
        data[-3] ^= 1
        member.write_bytes(bytes(data))
    done = runner.run("wasserturm")
    [outcome] = done.outcomes
    assert outcome.status == "rejected" and outcome.settled_in == "error"
    assert dump(engine) == before
    rule = {"truncated": "file.truncated", "missing": "manifest.member_missing",
            "checksum": "file.checksum"}[damage]
    assert list(outcome.result.findings["rule"]) == [rule]
    assert {"error/RE_20261101.fehler.csv", "error/RE_20261101.fehler.txt",
            "error/RE_20261101.manifest"} <= files(drop)
    assert not (drop / "inbox").exists() or not any((drop / "inbox").iterdir())


# --- processes: etl run twice at once, the daemon --------------------------------------------
ETL = [sys.executable, "-m", "etl"]


def env_for(database_url: str) -> dict[str, str]:
    return {**os.environ, "ETL_DATABASE_URL": database_url, "ETL_LOG_LEVEL": "INFO"}


def test_two_runs_at_once_import_each_file_once(tmp_path, database_url, engine) -> None:
    config = write_config(tmp_path, database_url, lindenhof(tmp_path, settle_seconds=1))
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    for month in ("10", "11"):
        data = NOV.read_bytes().replace(b"01.11.2026", f"01.{month}.2026".encode())
        (inbox / f"mieterliste_2026-{month}-01.csv").write_bytes(data)
    runs = [subprocess.Popen([*ETL, "run", "--config", str(config)], env=env_for(database_url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("APPLIED") + stdout.count("UNCHANGED") == 2, stdout
    assert "busy" in stdout or stdout.count("lindenhof: nothing to do") == 1, stdout
    assert applied(engine) == ["mieterliste_2026-10-01.csv", "mieterliste_2026-11-01.csv"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM etl_run WHERE status IN "
                                    "('applied', 'unchanged')")).scalar_one() == 2
    archived = sorted(p.name for p in (tmp_path / "drop" / "archive").rglob("*.csv"))
    assert archived == ["mieterliste_2026-10-01.csv", "mieterliste_2026-11-01.csv"]


def test_the_daemon_runs_on_schedule_and_stops_cleanly_on_sigterm(
        tmp_path, database_url, engine) -> None:
    sources = lindenhof(tmp_path)
    sources["lindenhof"]["schedule"] = "*/1 * * * * *"  # every second (6 fields: seconds first)
    config = write_config(tmp_path, database_url, sources)
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    daemon = subprocess.Popen([*ETL, "schedule", "--config", str(config)],
                              env=env_for(database_url), stderr=subprocess.PIPE, text=True)
    try:
        shutil.copy(NOV, inbox)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(inbox.iterdir()):
            time.sleep(0.2)
        assert not any(inbox.iterdir()), "the scheduled job did not take the file"
        assert applied(engine) == ["mieterliste_2026-11-01.csv"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "SIGTERM: finishing the current file" in stderr
    assert "scheduler stopped" in stderr
    assert "Traceback" not in stderr


def test_sha256_of_samples_match_the_manifest() -> None:
    lines = (SAP_DIR / "RE_20261101.manifest").read_text("utf-8").splitlines()[1:]
    for line in lines:
        name, size, sha = line.split(";")
        data = (SAP_DIR / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (int(size), sha)
