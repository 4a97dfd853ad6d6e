"""One seam for errors: each room translates its dependency's errors into the project's tree —
the store (SQLAlchemy, psycopg, sqlite3), the SFTP drop (paramiko, sockets), the local drop
(OSError), read (csv.Error) — and the CLI prints each as one line with its exit code."""

from __future__ import annotations

import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.core.config import SourceConfig
from etl.core.errors import LoadError, LoadRefused, ReadError, SourceUnavailable
from etl.drops.local import LocalDrop
from etl.pipeline import import_export
from etl.store import Database
from tests.conftest import (
    MAPPINGS,
    MINI_HEADER,
    MINI_ROW,
    SAMPLES,
    as_unprivileged,
    dump,
    mapping,
    rules_at,
    write_config,
)

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
LINDENHOF = SourceConfig(client="wg-lindenhof", mapping="wodis-style")
ETL = [sys.executable, "-m", "etl"]


def etl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ETL, *args], check=False, capture_output=True, text=True,
                          timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line an expected failure prints (no traceback, nothing else on stderr)."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- the store: SQLAlchemy, psycopg, sqlite3 ------------------------------------------------

def test_a_database_that_refuses_connections_is_exit_6_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/portal", {
        "lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                      "drop": {"path": str(tmp_path / "drop")}}})
    for args in (["runs"], ["import", str(NOV), "-s", "lindenhof"], ["run"], ["db", "upgrade"]):
        result = etl(*args, "--config", str(config))
        assert result.returncode == 6, (args, result.stderr)
        line = one_line(result)
        assert line.startswith("error: database failure") and "Connection refused" in line


def admin_of(engine: sa.Engine) -> sa.Engine:
    return sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")


def test_a_lost_connection_rolls_back_as_a_load_error(pg_engine: sa.Engine) -> None:
    engine = pg_engine
    database = Database(engine)
    admin = admin_of(engine)
    before = dump(engine)
    with pytest.raises(LoadError, match="rolled back") as info, \
            database.transaction("lindenhof") as tx:
        pid = tx.conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        tx.last_snapshot("lindenhof")
    admin.dispose()
    assert info.value.exit_code == 6
    assert dump(engine) == before


def test_a_lock_whose_connection_was_lost_is_let_go_quietly(pg_engine: sa.Engine,
                                                            tmp_path: Path) -> None:
    database = Database(pg_engine)
    admin = admin_of(pg_engine)
    with database.source_lock("lindenhof", tmp_path) as held:
        assert held
        with admin.connect() as conn:
            # this test's database only: the suite's other workers hold locks of their own
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                 "WHERE locktype = 'advisory' AND granted AND database = "
                                 "(SELECT oid FROM pg_database WHERE datname = "
                                 "current_database())"))
    with database.source_lock("lindenhof", tmp_path) as held:
        assert held  # the server released it with the connection
    admin.dispose()


def test_a_full_disk_is_a_load_error_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    database = Database.connect(url)
    database.upgrade()
    with database.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    @sa.event.listens_for(database.engine, "connect")
    def _full_disk(dbapi_connection, _record) -> None:  # the file may not grow at all
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    database.engine.dispose()  # new connections get the limit
    before = dump(database.engine)
    with pytest.raises(LoadError, match="database or disk is full") as info:
        import_export([NOV], "lindenhof", LINDENHOF, mapping("wodis-style"), database)
    assert info.value.exit_code == 6
    assert dump(database.engine) == before
    assert "Hauptstraße" not in str(info.value) and "[parameters" not in str(info.value)


def test_a_database_that_refuses_writes_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "portal.db"
    Database.connect(f"sqlite:///{path}").upgrade()
    read_only = Database.connect(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(LoadError, match="readonly database"):
        import_export([NOV], "lindenhof", LINDENHOF, mapping("wodis-style"), read_only)


def test_a_value_the_database_refuses_never_shows_residents_data(pg_engine: sa.Engine) -> None:
    """A write the database refuses (here a constraint an administrator added) is a LoadRefused
    whose text is the driver's primary message: it names no row and no value."""
    with pg_engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE person ADD CONSTRAINT no_celik "
                             "CHECK (last_name <> 'Çelik')"))
    with pytest.raises(LoadRefused) as info:
        import_export([NOV], "lindenhof", LINDENHOF, mapping("wodis-style"),
                      Database(pg_engine))
    assert "no_celik" in str(info.value) and "Çelik" not in str(info.value)
    assert "Özlem" not in str(info.value) and info.value.exit_code == 6


def test_a_value_longer_than_its_column_is_a_finding_before_the_load(tmp_path: Path,
                                                                    engine) -> None:
    data = NOV.read_bytes().decode("cp1252").replace("Özlem", "Ö" * 300 + "zlem")
    export = tmp_path / "mieterliste_2026-11-01.csv"
    export.write_bytes(data.encode("cp1252"))
    before = dump(engine)
    strict = LINDENHOF.model_copy(update={"invalid_rows": "reject_export"})
    result = import_export([export], "lindenhof", strict, mapping("wodis-style"),
                           Database(engine))
    assert result.status == "rejected" and dump(engine) == before
    found = result.findings
    assert list(found["rule"]) == ["value.too_long"] and list(found["column"]) == ["Vorname"]
    assert list(found["value"]) == ["(ausgeblendet)"] and list(found["line"]) == [7]


# --- the local drop: OSError ----------------------------------------------------------------

def test_an_unreadable_inbox_is_exit_5_in_one_line(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    shutil.copy(NOV, drop / "inbox")
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {
        "lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                      "drop": {"path": str(drop), "settle_seconds": 0}}})
    assert etl("db", "upgrade", "--config", str(config)).returncode == 0
    (drop / "inbox").chmod(0)
    try:
        prefix = as_unprivileged()
        result = subprocess.run([*prefix, *ETL, "run", "--config", str(config), "--log-level",
                                 "CRITICAL"], check=False, capture_output=True, text=True,
                                timeout=120)
    finally:
        (drop / "inbox").chmod(0o755)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Permission denied" in result.stdout and "Traceback" not in result.stderr
    assert (drop / "inbox" / NOV.name).exists()


def test_a_local_drop_turns_oserror_into_source_errors(tmp_path: Path) -> None:
    (tmp_path / "inbox").write_text("a file where the folder should be")
    drop = LocalDrop(tmp_path)
    with pytest.raises(SourceUnavailable, match="cannot be read") as info:
        drop.list("inbox")
    assert info.value.exit_code == 5
    assert isinstance(info.value.__cause__, NotADirectoryError)
    with pytest.raises(SourceUnavailable, match="does not exist"):
        drop.list("missing")


# --- read: csv.Error --------------------------------------------------------------------------

def test_a_line_the_csv_parser_gives_up_on_is_a_finding(check) -> None:
    """A ragged file takes the standard library's reader, which refuses a field over 128 KiB."""
    long_row = MINI_ROW.replace("EG links", "x" * 200_000)
    ragged = MINI_ROW + ";extra"
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n{ragged}\n{long_row}\n")
    assert rules_at(result) == {("row.unreadable", 4, None)}
    assert "field larger than field limit" in result.findings["message_en"].iloc[0]


def test_read_raises_only_read_errors_for_a_parser_failure() -> None:
    from etl.stages.read import read_table

    spec = mapping("wodis-style")
    body = NOV.read_bytes().decode("cp1252").splitlines()
    body[5] += ";x" * 3 + ";" + "y" * 200_000  # ragged, and a field the csv module refuses
    role = next(iter(spec.files))
    with pytest.raises(ReadError) as info:
        read_table("\r\n".join(body).encode("utf-8"), "m.csv", role, spec.columns(role),
                   spec.dialect)
    assert info.value.rule == "row.unreadable" and info.value.location.line == 6


# --- the SFTP drop: paramiko and sockets ------------------------------------------------------

@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (no SSH banner)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_server_that_never_speaks_ssh_is_exit_5_in_one_line(silent_server: int,
                                                             tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not needed: the handshake never happens")
    key.chmod(stat.S_IRUSR | stat.S_IWUSR)
    sftp = {"host": "127.0.0.1", "port": silent_server, "user": "erp", "key_file": str(key),
            "connect_timeout": 1, "retries": 2, "backoff_seconds": 0}
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {
        "lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style",
                      "drop": {"path": "drop", "sftp": sftp}}}, mappings_dir=str(MAPPINGS))
    assert etl("db", "upgrade", "--config", str(config)).returncode == 0
    run = etl("run", "--config", str(config), "--log-level", "CRITICAL")
    assert run.returncode == 5 and "Traceback" not in run.stderr, run.stderr
    no_ssh = re.compile(r"SSH protocol banner|no SSH handshake within 1 s")
    assert no_ssh.search(run.stdout), run.stdout
    trust = etl("sftp", "trust", "--source", "lindenhof", "--config", str(config))
    assert trust.returncode == 5 and no_ssh.search(one_line(trust))
