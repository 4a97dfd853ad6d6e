"""No dead ends: a crash or a failure at any boundary leaves the database before or after and
every file in exactly one of inbox, archive or error; the next run ends in the right state with
each event once; nothing is retried forever."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

import etl.runner.passes
from etl.core.config import load_config
from etl.core.faults import POINTS
from etl.drops.local import LocalDrop
from etl.runner import Runner
from etl.store import Database
from tests.conftest import (
    MAPPINGS,
    SAMPLES,
    as_unprivileged,
    dump,
    postgres_database,
    write_config,
)

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "excel_scientific_keys.csv"
SAP = sorted((SAMPLES / "sap-style").iterdir())
ETL = [sys.executable, "-m", "etl"]
ENTITY_TABLES = ("property", "building", "unit", "tenancy", "person", "membership")


def where(drop: Path) -> Counter:
    """Each export file of the drop by its name: in which folders it is (inbox, archive,
    error); reports and run pages are not exports."""
    return Counter((p.name, p.relative_to(drop).parts[0]) for p in drop.rglob("*")
                   if p.is_file() and ".fehler." not in p.name and ".bericht" not in p.name)


def state(engine) -> dict[str, object]:
    """What must be exactly before or after: rows per entity table, events, runs and ledger."""
    with engine.connect() as conn:
        def count(sql: str) -> int:
            return conn.execute(sa.text(sql)).scalar_one()

        return {**{t: count(f"SELECT count(*) FROM {t}") for t in ENTITY_TABLES},
                "events": count("SELECT count(*) FROM change_event"),
                "runs": count("SELECT count(*) FROM etl_run WHERE status = 'applied'"),
                "applied": count("SELECT count(*) FROM etl_applied"),
                "states": count("SELECT count(*) FROM etl_state")}


def run(config: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ETL_FAULT"}
    if fault:
        env["ETL_FAULT"] = fault
    return subprocess.run([*ETL, "run", "--config", str(config), "--log-level", "WARNING"],
                          check=False, capture_output=True, text=True, timeout=180, env=env)


# every point on SQLite; the points inside the transaction on PostgreSQL too
CASES = [(point, action, "sqlite") for point in POINTS for action in ("kill", "raise")] + [
    (point, action, "postgresql") for point in POINTS if point.startswith("load_")
    for action in ("kill", "raise")]


@pytest.mark.parametrize(("point", "action", "kind"), CASES)
def test_a_crash_at_any_boundary_is_before_or_after_and_the_next_run_finishes(
        request, tmp_path, point: str, action: str, kind: str) -> None:
    """report_write needs a rejected export; settle_between_moves a set of files."""
    database_url = (f"sqlite:///{tmp_path / 'portal.db'}" if kind == "sqlite"
                    else postgres_database(request))
    database = Database.connect(database_url)
    database.upgrade()
    engine = database.engine
    request.addfinalizer(database.dispose)
    rejected = point == "report_write"
    multi = point == "settle_between_moves"
    source = {"client": "c", "mapping": "sap-style" if multi else "wodis-style",
              "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0,
                       **({"manifest": "RE_*.manifest"} if multi else {})}}
    config = write_config(tmp_path, database_url, {"s": source}, mappings_dir=str(MAPPINGS))
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    for export in SAP if multi else [BAD] if rejected else [NOV]:
        shutil.copy(export, inbox / (NOV.name if rejected else export.name))
    drop = tmp_path / "drop"
    names = set(where(drop))
    before = state(engine)

    crashed = run(config, f"{point}:{action}")
    assert crashed.returncode == (-9 if action == "kill" else 1), crashed.stderr
    if action == "raise":  # one line, no traceback
        assert "Traceback" not in crashed.stderr
        assert "error: unexpected InjectedFault" in crashed.stderr
    middle = state(engine)
    if not rejected:
        expected_after = {**dict.fromkeys(ENTITY_TABLES), "runs": 1}
        assert middle == before or all(middle[k] for k in expected_after), (before, middle)
    located = where(drop)
    assert {name for name, _ in located} == {name for name, _ in names}  # never gone
    assert all(n == 1 for n in located.values())  # never in two places

    again = run(config)
    assert again.returncode == (4 if rejected else 0), again.stdout + again.stderr
    final = where(drop)
    folder = "error" if rejected else "archive"
    assert set(final) == {(name, folder) for name, _ in names}
    assert list((drop / folder).rglob("*.bericht*.html"))  # the run's page beside it
    after = state(engine)
    if rejected:
        assert after == before
        assert len(list((drop / "error").glob("*.fehler.*"))) == 2
    else:
        assert after["runs"] == 1 and after["applied"] == (len(SAP) - 1 if multi else 1)
        assert after["events"] == 6  # initial_import per entity, once
        assert all(after[t] > 0 for t in ENTITY_TABLES)


class _WrittenOn(LocalDrop):
    """A local drop whose ERP writes on: ``when`` says whether during the download (before
    the copy) or right after it (while the import runs)."""

    when = "download"

    def fetch(self, folder, name, dest, progress=None):  # type: ignore[no-untyped-def]
        def append() -> None:
            with (self.base / folder / name).open("ab") as fh:
                fh.write(b"0099;noch mehr Zeilen;;;;;;;;;;;;;;;;;;;;;;;;\r\n")

        if self.when == "download":
            append()
        got = super().fetch(folder, name, dest, progress)
        if self.when == "import":
            append()
        return got


@pytest.mark.parametrize("when", ["download", "import"])
def test_a_file_still_being_written_is_never_archived_half(tmp_path, database_url, engine,
                                                          monkeypatch, when: str) -> None:
    monkeypatch.setattr(_WrittenOn, "when", when)
    monkeypatch.setattr(etl.runner.passes, "open_drop",
                        lambda cfg, *_: _WrittenOn(Path(cfg.path)))
    config = write_config(tmp_path, database_url, {"s": {
        "client": "c", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    done = Runner(load_config(config), Database(engine)).run("s")
    status = done.outcomes[0].status
    assert status == ("changing" if when == "download" else "applied") and done.exit_code == 0
    assert done.outcomes[0].settled_in is None
    assert (tmp_path / "drop" / "inbox" / NOV.name).exists()  # waits for the next pass
    assert not (tmp_path / "drop" / "archive").exists()


def test_an_export_the_database_refuses_goes_to_error_and_is_not_retried(tmp_path,
                                                                       database_url,
                                                                       engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE person ADD CONSTRAINT policy "
                                 "CHECK (last_name <> 'Çelik')"))
        else:
            conn.execute(sa.text("CREATE TRIGGER policy BEFORE INSERT ON person WHEN "
                                 "NEW.last_name = 'Çelik' BEGIN "
                                 "SELECT RAISE(ABORT, 'refused by policy'); END"))
    config = write_config(tmp_path, database_url, {"s": {
        "client": "c", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    runner = Runner(load_config(config), Database(engine))
    before = dump(engine)
    done = runner.run("s")
    assert [o.status for o in done.outcomes] == ["rejected"] and done.exit_code == 4
    assert dump(engine) == before
    report = (tmp_path / "drop" / "error" / "mieterliste_2026-11-01.fehler.csv")
    text = report.read_text("utf-8-sig")
    assert "load.refused" in text and "Çelik" not in text
    assert runner.run("s").outcomes == []  # never retried forever


def test_more_sources_at_once_than_the_default_pool_all_import(tmp_path, pg_engine) -> None:
    """Each source's pass holds a connection for its lock and one for its transaction."""
    url = pg_engine.url.render_as_string(hide_password=False)
    sources = {f"s{i}": {"client": f"c{i}", "mapping": "wodis-style",
                         "drop": {"path": str(tmp_path / f"d{i}"), "settle_seconds": 1}}
               for i in range(20)}
    config = write_config(tmp_path, url, sources, scheduler={"max_parallel": 20})
    for i in range(20):
        (tmp_path / f"d{i}" / "inbox").mkdir(parents=True)
        shutil.copy(NOV, tmp_path / f"d{i}" / "inbox")
    result = subprocess.run([*ETL, "run", "--config", str(config), "--log-level", "ERROR"],
                            check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("APPLIED") == 20


def test_an_unusable_work_folder_is_exit_3_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {"s": {
        "client": "c", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}},
        work_dir=str(tmp_path / "var"))
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    subprocess.run([*ETL, "db", "upgrade", "--config", str(config)], check=True,
                   capture_output=True, timeout=120)
    (tmp_path / "var").mkdir()
    (tmp_path / "var").chmod(0o500)
    prefix = as_unprivileged()
    try:
        result = subprocess.run([*prefix, *ETL, "run", "--config", str(config)], check=False,
                                capture_output=True, text=True, timeout=120)
    finally:
        (tmp_path / "var").chmod(0o700)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "work folder" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "drop" / "inbox" / NOV.name).exists()


def test_a_file_the_drop_refuses_to_read_goes_to_error_and_the_rest_is_taken(
        tmp_path: Path) -> None:
    """A file without read permission is not the drop's outage: it is reported to ERP staff in
    error/ (renaming needs no read permission) instead of blocking the source forever."""
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {"s": {
        "client": "c", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    inbox = tmp_path / "drop" / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(NOV, inbox / "mieterliste_2026-10-01.csv")
    shutil.copy(NOV, inbox / "mieterliste_2026-11-01.csv")
    (inbox / "mieterliste_2026-10-01.csv").chmod(0)
    subprocess.run([*ETL, "db", "upgrade", "--config", str(config)], check=True,
                   capture_output=True, timeout=120)
    prefix = as_unprivileged()
    result = subprocess.run([*prefix, *ETL, "run", "--config", str(config)], check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "mieterliste_2026-10-01.csv REJECTED -> error" in result.stdout
    assert "mieterliste_2026-11-01.csv APPLIED" in result.stdout
    report = (tmp_path / "drop" / "error" / "mieterliste_2026-10-01.fehler.csv")
    assert "file.unreadable" in report.read_text("utf-8-sig")
    assert not any(inbox.iterdir())


def test_a_report_that_cannot_be_written_leaves_no_part_file(tmp_path: Path) -> None:
    """The disk fills while a report is written (a file size limit stands in for it)."""
    (tmp_path / "error").mkdir()
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from etl.core.errors import SourceError\n"
        "from etl.drops.local import LocalDrop\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        f"    LocalDrop(Path({str(tmp_path)!r})).put('error', 'x.fehler.csv', b'y' * 100_000)\n"
        "except SourceError as exc:\n"
        "    print('refused:', exc)\n")
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                            text=True, timeout=60)
    assert "refused:" in result.stdout and "File too large" in result.stdout, result.stderr
    assert list((tmp_path / "error").iterdir()) == []
