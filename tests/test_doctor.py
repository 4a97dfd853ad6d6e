"""`etl doctor`: one line per check with what to fix, exit 0 only when every check passes —
against a real SQLite file, a real PostgreSQL server and a real sshd; nothing is imported or
moved."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from etl.cli import app
from etl.store import head_revision
from tests.conftest import SAMPLES, as_unprivileged, dump, write_config
from tests.test_sftp import make_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
cli = CliRunner()


def doctor(cfg: Path | str) -> tuple[int, dict[str, str]]:
    result = cli.invoke(app, ["-c", str(cfg), "doctor"])
    lines: dict[str, str] = {}
    name = ""
    for line in result.stdout.splitlines():
        if line.startswith(" "):  # the fix, under its check
            lines[name] += "\n" + line
        else:
            name = line.split(None, 1)[1].split(":", 1)[0]
            lines[name] = line
    return result.exit_code, lines


def _local(tmp_path: Path, database_url: str, **top: object) -> Path:
    cfg = write_config(tmp_path, database_url, {
        "lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                      "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}},
        "wasserturm": {"client": "wg-wasserturm", "mapping": "sap-style",
                       "drop": {"path": str(tmp_path / "sap"), "manifest": "*.manifest"}}},
        **top)
    for folder in ("drop", "sap"):
        (tmp_path / folder / "inbox").mkdir(parents=True)
    return cfg


def test_a_ready_installation_passes_and_nothing_moves(tmp_path, database_url, engine) -> None:
    cfg = _local(tmp_path, database_url, metrics={"textfile": str(tmp_path / "etl.prom")})
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    for f in (SAMPLES / "sap-style").glob("RE_*"):
        shutil.copy(f, tmp_path / "sap" / "inbox")
    before = dump(engine, records=True)
    code, lines = doctor(cfg)
    assert code == 0, lines
    assert all(line.startswith("ok") for line in lines.values())
    assert f"schema at {head_revision()}" in lines["database"]
    assert "fits wodis-style" in lines["source lindenhof export"]
    assert "person 15" in lines["source lindenhof export"]
    assert "fits sap-style" in lines["source wasserturm export"]
    assert "writable" in lines["metrics"]
    assert dump(engine, records=True) == before  # nothing imported, nothing on record
    assert (tmp_path / "drop" / "inbox" / NOV.name).exists()
    assert not (tmp_path / "drop" / "archive").exists()


def test_each_failure_names_what_to_fix(tmp_path, database_url) -> None:
    """An unmigrated database, a missing drop folder, an export the mapping rejects, a metrics
    folder that cannot be written: four failures, each with its fix; the worst code wins."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cfg = _local(tmp_path, database_url, metrics={"textfile": str(locked / "etl.prom")})
    shutil.rmtree(tmp_path / "sap")
    shutil.copy(SAMPLES / "bad" / "wodis-style" / "invalid_email.csv",
                tmp_path / "drop" / "inbox" / "mieterliste_2026-12-01.csv")
    import subprocess
    import sys

    result = subprocess.run([*as_unprivileged(), sys.executable, "-m", "etl", "-c", str(cfg),
                             "doctor"], capture_output=True, text=True, check=False, timeout=120)
    out = result.stdout
    assert result.returncode == 5, out  # the drop's 5 is the most severe of 3, 4 and 5
    assert "FAIL  database: database schema is at nothing" in out
    assert "fix: run `etl db upgrade`" in out
    assert "FAIL  source wasserturm drop:" in out and "fix: check the drop's path" in out
    assert "FAIL  source lindenhof export: mieterliste_2026-12-01.csv would be rejected: " \
        "2 problem(s) — " in out  # one bad line of 17 is more than the 5 % held back
    assert "email.format 1" in out and "rows.too_many_damaged 1" in out
    assert "fix: `etl validate FILE -m wodis-style`" in out
    assert "FAIL  metrics:" in out and "fix: create the folder" in out
    assert "ok    source lindenhof drop" in out and "Traceback" not in result.stderr


def test_a_database_that_cannot_be_reached_is_exit_6(tmp_path) -> None:
    cfg = _local(tmp_path, "postgresql+psycopg://etl@127.0.0.1:1/portal")
    code, lines = doctor(cfg)
    assert code == 6 and lines["database"].startswith("FAIL")
    assert "fix: check database.url" in lines["database"]


def test_a_broken_configuration_is_one_failed_check(tmp_path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"sources": {"x": {"client": "c"}}, "colour": "blue"}))
    code, lines = doctor(cfg)
    assert code == 3 and lines["config"].startswith("FAIL") and "colour" in lines["config"]


def test_an_untrusted_sftp_server_is_named_with_the_trust_command(sshd, tmp_path,
                                                                  database_url, engine) -> None:
    cfg, remote = make_config(tmp_path, database_url, sshd, trusted=False)
    shutil.copy(NOV, remote / "inbox")
    code, lines = doctor(cfg)
    assert code == 5 and lines["source lindenhof drop"].startswith("FAIL")
    assert "etl sftp trust --source lindenhof" in lines["source lindenhof drop"]
    trusted, _ = make_config(tmp_path, database_url, sshd, trusted=True)
    code, lines = doctor(trusted)
    assert code == 0, lines
    assert "fits wodis-style" in lines["source lindenhof export"]
    assert (remote / "inbox" / NOV.name).exists()


def test_doctor_says_what_the_source_would_hold_back(tmp_path, database_url) -> None:
    """Checked as the source imports it: a bad email in one line of 17 is held back when the
    source allows 10 % (and rejected with its default 5 %, above)."""
    cfg = write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style", "max_held_share": 0.1,
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(SAMPLES / "bad" / "wodis-style" / "invalid_email.csv",
                tmp_path / "drop" / "inbox" / "mieterliste_2026-12-01.csv")
    _, lines = doctor(cfg)
    assert lines["source lindenhof export"].startswith(
        "ok    source lindenhof export: mieterliste_2026-12-01.csv fits wodis-style but 1 "
        "damaged line(s) would be held back (email.format)"), lines
