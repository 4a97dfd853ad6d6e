"""A process killed (SIGKILL) in the middle of the load leaves the database as before; the next
run applies the file exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import sqlalchemy as sa

from bench.generate import generate, write
from etl.store import schema as db
from tests.conftest import MAPPINGS, ROOT, dump


def _writing(database_url: str, pid: int) -> bool:
    """Whether the importing process holds a write lock on an entity table right now."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE c.relname = ANY(:t) "
                "AND l.mode = 'RowExclusiveLock' AND l.granted AND a.application_name = 'etl-crash'"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ), {"t": list(db.ENTITY_TABLES)}).scalar())
    finally:
        engine.dispose()


def test_sigkill_during_the_load_leaves_the_database_as_before(engine, database_url, tmp_path):
    export = tmp_path / "mieterliste_2026-11-01.csv"
    write(generate(20_000, seed=7), export)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mappings_dir: {MAPPINGS}\nsources:\n  big: {{client: c1, mapping: wodis-style}}\n",
        encoding="utf-8")
    url = database_url
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + "application_name=etl-crash"
    env = {**os.environ, "ETL_DATABASE_URL": url}
    before = dump(engine)
    command = [sys.executable, "-m", "etl", "import", str(export), "--source", "big",
               "--config", str(config)]

    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _writing(database_url, proc.pid):
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline, "the load never started writing"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert dump(engine) == before  # nothing of the half-done transaction is visible
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "APPLIED" in done.stdout
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert "DUPLICATE" in again.stdout
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.applied)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(
            db.ENTITY_TABLES["membership"])).scalar() > 15_000
