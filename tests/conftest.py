"""Shared test helpers: real files in tmp folders, the repository's mappings and samples."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pytest
import yaml

from etl.core.mapping_format import Mapping
from etl.core.mapping_load import load_mapping, parse_mapping
from etl.pipeline import CheckResult, check_export

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"
SAMPLES = ROOT / "sample_exports"


def mapping(name: str) -> Mapping:
    return load_mapping(name, MAPPINGS)


# A small made-up dialect for inline CSV cases: one flat file, ';', UTF-8 or cp1252.
MINI_YAML = r"""
name: mini
title: Inline test dialect
dialect: {encoding: cp1252, delimiter: ";", decimal: ",", date_formats: ["%d.%m.%Y"]}
value_maps:
  usage: {values: {Wohnung: living, Stellplatz: parking}}
  role: {values: {HM: main_tenant, MM: co_tenant}}
files:
  rows:
    columns:
      we: {header: WE, width: 4}
      haus: {header: Haus}
      strasse: {header: Straße}
      plz: {header: PLZ}
      ort: {header: Ort}
      me: {header: ME}
      art: {header: Art, map: usage}
      lage: {header: Lage, optional: true}
      flaeche: {header: Fläche, optional: true}
      vertrag: {header: Vertrag}
      beginn: {header: Beginn}
      ende: {header: Ende, optional: true}
      person: {header: Person}
      rolle: {header: Rolle, map: role}
      vorname: {header: Vorname, optional: true}
      nachname: {header: Nachname}
      email: {header: E-Mail, optional: true, list: '\s*[;,]\s*'}
entities:
  property: {from: rows, fields: {property_id: we}}
  building:
    from: rows
    fields: {building_id: {join: [we, haus]}, property_id: we, street: strasse,
             house_number: haus, postal_code: plz, city: ort}
  unit:
    from: rows
    fields: {unit_id: {join: [we, haus, me]}, building_id: {join: [we, haus]}, property_id: we,
             unit_number: me, usage_type: art, position: lage, living_area: flaeche}
  tenancy:
    from: rows
    where: vertrag
    fields: {tenancy_id: vertrag, unit_id: {join: [we, haus, me]}, start_date: beginn,
             end_date: ende}
  person:
    from: rows
    where: person
    fields: {person_id: person, first_name: vorname, last_name: nachname, email: email,
             email_secondary: email_more}
  membership:
    from: rows
    where: person
    fields: {tenancy_id: vertrag, person_id: person, role: rolle}
"""

MINI_HEADER = "WE;Haus;Straße;PLZ;Ort;ME;Art;Lage;Fläche;Vertrag;Beginn;Ende;Person;Rolle;Vorname;Nachname;E-Mail"
MINI_ROW = "0001;1;Hauptstraße;01067;Dresden;01;Wohnung;EG links;60,5;V1;01.01.2020;;P1;HM;Anna;Groß;anna@example.de"


def mini_mapping(**dialect: object) -> Mapping:
    data = yaml.safe_load(MINI_YAML)
    data["dialect"].update(dialect)
    return parse_mapping(data, "mini")


@pytest.fixture
def check(tmp_path: Path):
    """Write CSV text or bytes to a real file and run read + map + validate on it."""

    def run(content: str | bytes, spec: Mapping | None = None, name: str = "export.csv",
            encoding: str = "utf-8") -> CheckResult:
        path = tmp_path / name
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return check_export([path], spec or mini_mapping())

    return run


def rules_at(result: CheckResult) -> set[tuple[str, int | None, str | None]]:
    """(rule, line, column) of every finding."""
    f = result.findings
    return {
        (rule, None if pd.isna(line) else int(line), None if pd.isna(column) else column)
        for rule, line, column in zip(f["rule"], f["line"], f["column"], strict=True)
    }


# --- databases -------------------------------------------------------------------------------
POSTGRES_ADMIN_URL = os.environ.get(
    "ETL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_database(request: pytest.FixtureRequest):
    """A fresh PostgreSQL database for one test; skipped (never in CI) without a server."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {exc.orig}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL} (set ETL_TEST_POSTGRES_URL)")
    name = f"etl_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.db'}"
    return postgres_database(request)


@pytest.fixture
def engine(database_url: str):
    """An engine on a migrated, empty portal database."""
    from etl.store import Database

    database = Database.connect(database_url)
    database.upgrade()
    yield database.engine
    database.dispose()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One SQLite database for every example of a property test (a client or source per
    example): migrating is the slow part."""
    from etl.store import Database

    database = Database.connect(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'p.db'}")
    database.upgrade()
    yield database
    database.engine.dispose()


@pytest.fixture
def pg_engine(request: pytest.FixtureRequest):
    """An engine on a migrated, empty PostgreSQL portal database: for what only a server does
    (connections that are lost, values longer than their column)."""
    from etl.store import Database

    database = Database.connect(postgres_database(request))
    database.upgrade()
    yield database.engine
    database.dispose()


RUN_RECORDS = ("etl_run", "etl_file")


def dump(engine, tables: list[str] | None = None, records: bool = False
         ) -> dict[str, list[tuple]]:
    """Every row of every table (or of ``tables``), sorted: for byte-for-byte comparisons —
    without the records of runs (every run, a rejected one too, is on record), unless
    ``records``."""
    import sqlalchemy as sa

    from etl.store.schema import metadata

    out = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in RUN_RECORDS and not records and tables is None:
                continue
            if tables is None or table.name in tables:
                rows = conn.execute(sa.select(table)).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


# --- drops -----------------------------------------------------------------------------------
def write_config(folder: Path, database_url: str, sources: dict, **top: object) -> Path:
    """A config.yaml in ``folder`` using the repository's mappings; returns its path."""
    data = {"mappings_dir": str(MAPPINGS), "work_dir": str(folder / "var"),
            "database": {"url": database_url}, "sources": sources, **top}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def require_sshd() -> None:
    """Skip where OpenSSH's sshd is missing — never in CI, where that fails the test."""
    from tests.sshd import missing

    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"sshd is required in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """A real OpenSSH sshd on 127.0.0.1 (skipped where sshd is missing — never in CI)."""
    from tests.sshd import Sshd

    require_sshd()
    server = Sshd.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@contextmanager
def slow_upload(open_target: Callable[[], BinaryIO], data: bytes) -> Iterator[None]:
    """While the block runs, ``data`` is being written 64 bytes every 0.2 s (an upload in
    progress); the writer stops when the block ends."""
    stop = threading.Event()

    def upload() -> None:
        with open_target() as fh:
            for i in range(0, len(data), 64):
                if stop.is_set():
                    return
                fh.write(data[i:i + 64])
                fh.flush()
                time.sleep(0.2)

    writer = threading.Thread(target=upload)
    writer.start()
    try:
        time.sleep(0.4)
        yield
    finally:
        stop.set()
        writer.join()


def as_unprivileged() -> list[str]:
    """A command prefix under which permissions hold: root passes every permission check, so
    as root the command runs without the two capabilities that let it (setpriv)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]
