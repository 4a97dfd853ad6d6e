"""Drops are sandboxes: nothing outside a drop's folders is read, written, moved or deleted
because of a file name, a link or a source name; secrets stay out of config.yaml; what etl
creates is its own."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from etl.core.config import AppConfig, load_config
from etl.core.database_config import DatabaseConfig
from etl.core.errors import ConfigError, SourceError
from etl.drops.local import LocalDrop
from etl.drops.pickup import Member, Pending, download
from etl.runner import Runner
from etl.runner.staging import staging_of
from etl.store import Database
from etl.store.errors import database_url
from tests.conftest import MAPPINGS, MINI_HEADER, MINI_ROW, SAMPLES, dump, rules_at, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "excel_scientific_keys.csv"
ETL = [sys.executable, "-m", "etl"]


def lindenhof(root: Path, **drop: object) -> dict:
    return {"lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                          "drop": {"path": str(root / "drop"), "settle_seconds": 0, **drop}}}


def runner(root: Path, database_url: str, engine) -> Runner:
    (root / "drop" / "inbox").mkdir(parents=True, exist_ok=True)
    cfg = load_config(write_config(root, database_url, lindenhof(root)))
    return Runner(cfg, Database(engine))


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def test_a_link_in_the_inbox_is_skipped_reported_and_never_followed(tmp_path, database_url,
                                                                    engine) -> None:
    run = runner(tmp_path, database_url, engine)
    inbox = tmp_path / "drop" / "inbox"
    other = tmp_path / "other-client"
    other.mkdir()
    shutil.copy(NOV, other / "mieterliste_2026-11-01.csv")
    (inbox / "mieterliste_2026-11-01.csv").symlink_to(other / "mieterliste_2026-11-01.csv")
    (inbox / "mieterliste_passwd.csv").symlink_to("/etc/passwd")
    (inbox / "mieterliste_dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    shutil.copy(NOV, inbox / "mieterliste_2026-11-02.csv")
    before = files(tmp_path / "drop")
    done = run.run("lindenhof")
    assert [(o.key, o.status) for o in done.outcomes] == [("mieterliste_2026-11-02.csv",
                                                           "applied")]
    assert sorted(done.skipped) == [
        "mieterliste_2026-11-01.csv (a link, never followed)",
        "mieterliste_dangling.csv (a link, never followed)",
        "mieterliste_passwd.csv (a link, never followed)"]
    after = files(tmp_path / "drop")
    # archive folders are dated in the configured time zone (Europe/Berlin by default)
    day = f"archive/{datetime.now(ZoneInfo(AppConfig().timezone)):%Y/%m/%d}"
    assert after == (before - {"inbox/mieterliste_2026-11-02.csv"}) | {
        f"{day}/mieterliste_2026-11-02.csv", f"{day}/mieterliste_2026-11-02.bericht.html"}
    assert (other / "mieterliste_2026-11-01.csv").exists()
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM etl_file WHERE outcome IN ('applied', 'unchanged')")
                             ).scalars().all()
    assert names == ["mieterliste_2026-11-02.csv"]


def test_a_drop_folder_that_is_a_link_is_refused(tmp_path, database_url, engine) -> None:
    run = runner(tmp_path, database_url, engine)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(NOV, elsewhere)
    shutil.rmtree(tmp_path / "drop" / "inbox")
    (tmp_path / "drop" / "inbox").symlink_to(elsewhere, target_is_directory=True)
    done = run.run("lindenhof")
    assert done.exit_code == 5 and "a drop never follows one" in str(done.error)
    assert [p.name for p in elsewhere.iterdir()] == [NOV.name]
    assert dump(engine, records=True)["etl_run"] == []


def test_names_that_are_not_plain_file_names_never_reach_a_local_path(tmp_path: Path) -> None:
    from etl.core.config import DropConfig
    from etl.drops.base import Entry
    from etl.drops.pickup import scan

    listing = [Entry(name, 10, 1.0) for name in (
        "/etc/cron.d/x.csv", "../x.csv", "a\\b.csv", "..", "ok.csv", "a\x00.csv")]
    found = scan(listing, listing, DropConfig(settle_seconds=0), "*", False, bytes)
    assert [p.key for p in found.ready] == ["ok.csv"]  # '..' and '../x.csv' are hidden names
    assert len(found.skipped) == 3 and all("name" in s for s in found.skipped)
    hostile = Pending("x", (Member("/tmp/evil.csv", 1),), (), datetime.now(UTC))
    with pytest.raises(SourceError, match="not a plain file name"):
        download(LocalDrop(tmp_path), "inbox", hostile, tmp_path / "staging")
    assert not Path("/tmp/evil.csv").exists()


def test_a_source_name_cannot_reach_outside_the_work_folder(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///x.db", {
        "../../victim": {"client": "c", "mapping": "wodis-style"},
        "ok_name-1": {"client": "c", "mapping": "wodis-style"}})
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert len(info.value.problems) == 1 and "../../victim" in info.value.problems[0]
    with pytest.raises(ConfigError, match="outside"):
        staging_of(tmp_path / "var", "../..")


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://etl:geheim@db/portal",
    "postgresql+psycopg://:geheim@db/portal",  # no user
    "postgresql+psycopg://etl:ge/heim@db/portal",  # a '/' in the password
    "postgresql+psycopg://etl@db/portal?password=geheim",
    "postgresql+psycopg://etl@db/portal?sslmode=require&PASSWORD=geheim",
])
def test_a_password_in_the_database_url_is_refused_however_it_is_written(tmp_path: Path,
                                                                        url: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": url}}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "password" in str(info.value) and "geheim" not in str(info.value)
    # the store checks again, reading the URL with SQLAlchemy's make_url
    with pytest.raises(ConfigError, match="holds a password"):
        database_url(DatabaseConfig.model_construct(url=url, password_env="X"), {})


def test_what_etl_creates_is_its_own_users_only(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", lindenhof(tmp_path),
                          mappings_dir=str(MAPPINGS))
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    shutil.copy(BAD, tmp_path / "drop" / "inbox" / "mieterliste_2026-11-02.csv")
    env = {k: v for k, v in os.environ.items() if k != "ETL_FAULT"}
    for args in (["db", "upgrade"], ["run"]):
        subprocess.run([*ETL, *args, "--config", str(config)], check=False, env=env,
                       capture_output=True, timeout=120)
    created = [tmp_path / "portal.db", *(tmp_path / "drop" / "error").glob("*.fehler.*")]
    assert len(created) == 3
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in created} == {"0o600"}
    archive = tmp_path / "drop" / "archive"
    folders = [p for p in archive.rglob("*") if p.is_dir()]
    assert folders and {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o700"}


def test_a_newline_in_a_file_name_cannot_forge_a_log_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", lindenhof(tmp_path),
                          mappings_dir=str(MAPPINGS))
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(NOV, inbox / "mieterliste_x\n2026-11-27 ERROR forged.csv")
    subprocess.run([*ETL, "db", "upgrade", "--config", str(config)], check=True,
                   capture_output=True, timeout=120)
    result = subprocess.run([*ETL, "run", "--config", str(config)], check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert not [line for line in lines if line.startswith("2026-11-27 ERROR forged")]
    assert "mieterliste_x\\n2026-11-27 ERROR forged.csv" in result.stdout


def test_a_file_name_that_is_not_utf8_goes_to_error_with_its_report(tmp_path, database_url,
                                                                    engine) -> None:
    run = runner(tmp_path, database_url, engine)
    inbox = os.fsencode(tmp_path / "drop" / "inbox")
    with open(os.path.join(inbox, b"mieterliste_M\xfcller.csv"), "wb") as fh:  # Latin-1 name
        fh.write(NOV.read_bytes())
    done = run.run("lindenhof")
    assert [o.status for o in done.outcomes] == ["rejected"] and done.exit_code == 4
    error = os.listdir(os.fsencode(tmp_path / "drop" / "error"))
    assert sorted(error) == [b"mieterliste_M\xfcller.bericht.html", b"mieterliste_M\xfcller.csv",
                             b"mieterliste_M\xfcller.fehler.csv",
                             b"mieterliste_M\xfcller.fehler.txt"]
    report = (tmp_path / "drop" / "error" / os.fsdecode(b"mieterliste_M\xfcller.fehler.csv"))
    assert "file.name_encoding" in report.read_text("utf-8-sig")
    assert "mieterliste_M\\udcfcller.csv" in report.read_text("utf-8-sig")
    assert run.run("lindenhof").outcomes == []
    runs = dump(engine, records=True)["etl_run"]
    assert [r[5] for r in runs] == ["rejected"]  # on record, with the name escaped
    assert json.loads(runs[0][6]) == ["mieterliste_M\\udcfcller.csv"]


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f",
                                       "\ufeff", "\u2060", "\u202e", "\u00ad"])
def test_an_invisible_character_in_a_key_is_an_error_naming_it(check, invisible: str) -> None:
    row = MINI_ROW.replace(";P1;", f";P1{invisible};")
    result = check(f"{MINI_HEADER}\n{row}\n", encoding="utf-8")
    assert ("key.invisible", 2, "Person") in rules_at(result)
    shown = result.findings.loc[result.findings["rule"] == "key.invisible", "value"].iloc[0]
    assert shown == "P1" + invisible.encode("unicode_escape").decode()


def test_a_nul_far_into_the_file_is_a_finding_not_a_database_failure(check) -> None:
    rows = [MINI_ROW.replace("V1", f"V{i}").replace("P1", f"P{i}").replace(";01;", f";{i:02};")
            for i in range(1, 900)]
    rows[850] = rows[850].replace("EG links", "EG\x00links")
    result = check("\n".join([MINI_HEADER, *rows]) + "\n", encoding="utf-8")
    assert rules_at(result) == {("value.control_character", 852, "Lage")}
    assert list(result.findings["value"]) == ["EG\\x00links"]
