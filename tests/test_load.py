"""Diff, guard and load against real databases (SQLite file and PostgreSQL server)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from etl.core.config import GuardConfig, SourceConfig
from etl.pipeline import import_export
from etl.store import Database, head_revision
from etl.store import schema as db
from tests.conftest import SAMPLES, dump, mapping

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
LINDENHOF = SourceConfig(client="wg-lindenhof", mapping="wodis-style")
DATA_TABLES = [*db.ENTITY_TABLES, "change_event"]


def run(engine, path: Path | list[Path], source: SourceConfig = LINDENHOF, name: str = "lindenhof",
        **kwargs):
    paths = path if isinstance(path, list) else [path]
    return import_export(paths, name, source, mapping(source.mapping), Database(engine),
                         **kwargs)


def events_of(engine, run_id: str) -> Counter:
    e = db.events
    with engine.connect() as conn:
        rows = conn.execute(sa.select(e.c.event, e.c.entity_key, e.c.fields, e.c.from_unit,
                                      e.c.to_unit).where(e.c.run_id == run_id)).all()
    return Counter(tuple(r) for r in rows)


def rewrite(tmp_path: Path, name: str, base: Path, *edits: tuple[str, str]) -> Path:
    text = base.read_bytes().decode("cp1252")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_bytes(text.encode("cp1252"))
    return path


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for name, t in db.ENTITY_TABLES.items()}


NOV_COUNTS = {"property": 3, "building": 4, "unit": 15, "tenancy": 14, "person": 15,
              "membership": 17}


def test_first_import_writes_every_row_and_one_event_per_entity(engine) -> None:
    result = run(engine, NOV)
    assert result.status == "applied"
    assert events_of(engine, result.run_id) == Counter(
        {("initial_import", "*", None, None, None): 6})
    counts = row_counts(engine)
    with engine.connect() as conn:
        unit = conn.execute(sa.select(db.ENTITY_TABLES["unit"]).where(
            db.ENTITY_TABLES["unit"].c.unit_id == "0012/01/003")).one()
    assert counts == NOV_COUNTS
    assert (unit.client, unit.position, unit.living_area, unit.active) == (
        "wg-lindenhof", "1. OG links", 74.1, True)


def test_rows_and_events_carry_the_runs_time_to_the_microsecond(engine) -> None:
    # binary COPY sends timestamps as microseconds since 2000-01-01 UTC (pgpq)
    now = datetime(2026, 11, 3, 4, 5, 6, 789012, tzinfo=UTC)
    run(engine, NOV, clock=lambda: now)
    with engine.connect() as conn:
        stamps = {name: set(conn.execute(sa.select(t.c.valid_from, t.c.valid_to)).all())
                  for name, t in db.ENTITY_TABLES.items()}
        created = set(conn.execute(sa.select(db.events.c.created_at)).scalars())
    naive = now.replace(tzinfo=None)  # SQLite keeps no time zone
    assert all(s in ({(now, None)}, {(naive, None)}) for s in stamps.values()), stamps
    assert created in ({now}, {naive})


def test_postgresql_stores_what_sqlite_stores(pg_engine, tmp_path: Path) -> None:
    # PostgreSQL's rows come by binary COPY (pgpq), SQLite's by executemany: the same values,
    # text with quotes, separators and umlauts, dates, decimals and missing values alike
    from etl.store import Database

    odd = ("Müller-Lüdenscheidt", '"O""Brien; Ärger \\ é"')  # cp1252 has no emoji
    nov, dec = (rewrite(tmp_path, p.name, p, odd) for p in (NOV, DEC))
    sqlite = Database.connect(f"sqlite:///{tmp_path / 'portal.db'}")
    sqlite.upgrade()
    for engine in (sqlite.engine, pg_engine):
        run(engine, nov)
        run(engine, dec, override_reason="sample month with many moves")
    skip = ("valid_from", "valid_to", "created_run", "updated_run")  # the run's own
    stored = []
    for engine in (sqlite.engine, pg_engine):
        with engine.connect() as conn:
            stored.append({name: sorted(map(tuple, conn.execute(sa.select(
                *(c for c in t.c if c.name not in skip))).all()), key=repr)
                for name, t in db.ENTITY_TABLES.items()})
    sqlite.dispose()
    assert stored[0] == stored[1]
    person = db.ENTITY_TABLES["person"]
    with pg_engine.connect() as conn:
        names = set(conn.execute(sa.select(person.c.last_name)).scalars())
    assert 'O"Brien; Ärger \\ é' in names


def test_second_snapshot_yields_exactly_the_expected_events(engine) -> None:
    run(engine, NOV)
    result = run(engine, DEC, override_reason="sample month with many moves")
    assert result.status == "applied"
    assert result.verdict.label == "overridden"
    assert events_of(engine, result.run_id) == Counter([
        # a flat change, a household move (one event per person), a flat change keeping a cellar
        ("moved", "004720", None, "0012/01/002", "0012/01/004"),
        ("moved", "005101", None, "0051/01/001", "0051/01/003"),
        ("moved", "005102", None, "0051/01/001", "0051/01/003"),
        ("moved", "008020", None, "0034/01/003", "0034/01/004"),
        ("moved_in", "004780", None, None, "0012/01/002"),  # new tenant in the vacated flat
        ("moved_in", "004732", None, None, "0012/01/003"),  # co-tenant joins a contract
        ("moved_out", "004730", None, "0012/01/003", None),  # ended contract left the export
        ("person_added", "004780", None, None, None),
        ("person_added", "004732", None, None, None),
        ("person_ended", "004730", None, None, None),
        ("tenancy_added", "00120100202", None, None, None),
        ("tenancy_added", "00120100401", None, None, None),
        ("tenancy_added", "00340100401", None, None, None),
        ("tenancy_added", "00510100301", None, None, None),
        ("tenancy_ended", "00120100201", None, None, None),
        ("tenancy_ended", "00120100301", None, None, None),
        ("tenancy_ended", "00340100301", None, None, None),
        ("tenancy_ended", "00510100101", None, None, None),
        ("tenancy_ending", "00120100601", "end_date", None, None),
        ("contact_changed", "004740", "email", None, None),
        ("contact_changed", "008020", "mobile", None, None),
        ("name_changed", "004741", "last_name", None, None),
        ("unit_added", "0034/01/004", None, None, None),
        ("unit_added", "0051/01/003", None, None, None),
        ("unit_changed", "0012/02/001", "living_area", None, None),
        ("unit_ended", "0012/02/902", None, None, None),  # a vacant parking space left out
        ("building_changed", "0034/01", "postal_code", None, None),
    ])
    with engine.connect() as conn:
        t = db.ENTITY_TABLES["tenancy"]
        ended = conn.execute(sa.select(t.c.active, t.c.valid_to).where(
            t.c.tenancy_id == "00120100201")).one()
    assert ended.active is False or ended.active == 0
    assert ended.valid_to is not None  # ended, kept, never deleted


def test_ended_unit_that_comes_back_is_reactivated(engine, tmp_path: Path) -> None:
    run(engine, NOV)
    run(engine, DEC, override_reason="sample")
    back = rewrite(tmp_path, "mieterliste_2027-01-01.csv", DEC, (
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;901;",
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;902;Tiefgarage;"
        "TG-Stellplatz 2;;;;;;;;;;;;;;;;;;\r\n"
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;901;"))
    result = run(engine, back)
    assert events_of(engine, result.run_id) == Counter(
        {("unit_reactivated", "0012/02/902", None, None, None): 1})
    u = db.ENTITY_TABLES["unit"]
    with engine.connect() as conn:
        row = conn.execute(sa.select(u.c.active, u.c.valid_to).where(
            u.c.unit_id == "0012/02/902")).one()
    assert bool(row.active) and row.valid_to is None


def test_unchanged_reexport_writes_no_data_rows_and_no_events(engine, tmp_path: Path) -> None:
    run(engine, NOV)
    before = dump(engine, DATA_TABLES)
    again = rewrite(tmp_path, "mieterliste_2026-11-02.csv", NOV,
                    ("Stichtag: 01.11.2026", "Stichtag: 02.11.2026"))
    result = run(engine, again)
    assert result.status == "unchanged"
    assert result.changes.rows_to_write == 0 and result.changes.events.empty
    assert dump(engine, DATA_TABLES) == before


def test_same_file_is_applied_once(engine) -> None:
    first = run(engine, NOV)
    before = dump(engine)
    second = run(engine, NOV)
    assert (first.status, second.status) == ("applied", "duplicate")
    assert dump(engine) == before


def test_portal_owned_columns_survive_every_import(engine, tmp_path: Path) -> None:
    run(engine, NOV)
    p, pr = db.ENTITY_TABLES["person"], db.ENTITY_TABLES["property"]
    portal = {"app_account_id": "acc-1", "invitation_code": "X7K2", "consent_email": True,
              "notifications_enabled": False}
    with engine.begin() as conn:
        conn.execute(sa.update(p).where(p.c.person_id.in_(["004741", "004740", "004730"]))
                     .values(**portal))
        conn.execute(sa.update(pr).values(quarter="Lindenviertel"))
    run(engine, DEC, override_reason="sample")  # names, contacts change; 004730 ends
    gone = rewrite(tmp_path, "mieterliste_2027-01-01.csv", NOV)  # 004730 comes back
    run(engine, gone, override_reason="sample")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.person_id, p.c.app_account_id, p.c.invitation_code,
                                      p.c.consent_email, p.c.notifications_enabled)
                            .where(p.c.app_account_id.is_not(None))).all()
        quarters = set(conn.execute(sa.select(pr.c.quarter)).scalars())
    assert sorted(r.person_id for r in rows) == ["004730", "004740", "004741"]
    assert {(r.invitation_code, bool(r.consent_email), bool(r.notifications_enabled))
            for r in rows} == {("X7K2", True, False)}
    assert quarters == {"Lindenviertel"}


def test_guard_refusal_leaves_the_database_byte_for_byte(engine) -> None:
    run(engine, NOV)
    before = dump(engine)
    result = run(engine, DEC)
    assert result.status == "refused"
    assert [p[0] for p in result.verdict.problems] == ["guard.too_many_ended"]
    assert "4 of 14" in result.verdict.problems[0][2]
    assert dump(engine) == before


def test_guard_refuses_a_sharply_shrunk_export(engine, tmp_path: Path) -> None:
    run(engine, NOV)
    lines = NOV.read_bytes().decode("cp1252").split("\r\n")
    small = tmp_path / "mieterliste_2026-11-15.csv"
    # keep the header and the first flat's two residents: 2 of 17 resident rows
    small.write_bytes("\r\n".join([*lines[:6], ""]).encode("cp1252"))
    result = run(engine, small, source=SourceConfig(
        client="wg-lindenhof", mapping="wodis-style", guard=GuardConfig(max_ended_share=1.0)))
    assert result.status == "refused"
    assert [p[0] for p in result.verdict.problems] == ["guard.shrink"]
    assert "2 instead of 17" in result.verdict.problems[0][2]


def test_export_without_tenancies_is_refused(engine, tmp_path: Path) -> None:
    vacant = tmp_path / "mieterliste_2026-11-01.csv"
    vacant.write_bytes(
        "WE;Haus;Straße Hausnr;PLZ Ort;ME;Nutzungsart;Vertrag;Vertragsbeginn;Vertragsende;"
        "Personennr;Rolle;Vorname;Nachname\r\n"
        "0012;01;Lindenstraße 12a;01099 Dresden;004;Wohnung;;;;;;;\r\n".encode("cp1252"))
    result = run(engine, vacant)
    assert result.status == "refused"
    assert [p[0] for p in result.verdict.problems] == ["guard.empty"]


def test_older_export_than_the_last_applied_is_refused_as_stale(engine) -> None:
    run(engine, DEC)
    before = dump(engine)
    result = run(engine, NOV)
    assert "guard.stale" in [p[0] for p in result.verdict.problems]
    assert dump(engine) == before


def test_dry_run_shows_the_change_set_and_writes_nothing(engine) -> None:
    run(engine, NOV)
    before = dump(engine)
    result = run(engine, DEC, dry_run=True, override_reason="x")
    assert result.status == "planned"
    assert result.changes.summary()["moved"] == 4
    assert dump(engine) == before


def test_rejected_export_leaves_the_database_unchanged(engine) -> None:
    run(engine, NOV)
    before = dump(engine)
    result = run(engine, SAMPLES / "bad" / "wodis-style" / "invalid_email.csv")
    assert result.status == "rejected"
    assert set(result.findings["rule"]) == {"email.format", "rows.too_many_damaged"}
    assert dump(engine) == before


def test_two_clients_never_see_each_others_rows(engine) -> None:
    other = SourceConfig(client="wbg-andere", mapping="wodis-style")
    run(engine, NOV)
    run(engine, NOV, source=other, name="andere")
    theirs = dump(engine, list(db.ENTITY_TABLES))
    result = run(engine, DEC, override_reason="sample")
    after = dump(engine, list(db.ENTITY_TABLES))
    for name in db.ENTITY_TABLES:
        assert [r for r in after[name] if r[0] == "wbg-andere"] == [
            r for r in theirs[name] if r[0] == "wbg-andere"]
    e = db.events
    with engine.connect() as conn:
        clients = set(conn.execute(sa.select(e.c.client).where(
            e.c.run_id == result.run_id)).scalars())
    assert clients == {"wg-lindenhof"}


def test_announced_end_then_new_flat_is_one_move_across_two_exports(engine, tmp_path) -> None:
    run(engine, NOV)
    # export 1: Becker's contract ends 30.11., and his new flat in house 02 starts 01.12.
    announce = rewrite(tmp_path, "mieterliste_2026-11-20.csv", NOV, (
        ";01.05.2017;;004750;", ";01.05.2017;30.11.2026;004750;"), (
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;902;Tiefgarage;"
        "TG-Stellplatz 2;;;;;;;;;;;;;;;;;;",
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;902;Tiefgarage;"
        "TG-Stellplatz 2;;;;;;;;;;;;;;;;;;\r\n"
        "0012;Wohnanlage Lindenhof;02;Lindenstraße 12b;01099 Dresden;002;Wohnung;EG;3;70,00;"
        "00120200201;01.12.2026;;004750;HM;Herr;;Thomas;Becker;22.02.1975;+49 351 7654321;;"
        "\"familie.becker@example.de; t.becker@example.org\";700,00;DE91100000000123456789;"))
    first = run(engine, announce)
    assert events_of(engine, first.run_id) == Counter([
        ("moved", "004750", None, "0012/01/006", "0012/02/002"),
        ("tenancy_ending", "00120100601", "end_date", None, None),
        ("tenancy_added", "00120200201", None, None, None),
        ("unit_added", "0012/02/002", None, None, None),
    ])
    # export 2: the old contract has left the export: no move-out, he lives in the new flat
    gone = rewrite(tmp_path, "mieterliste_2026-12-02.csv", announce, (
        "0012;Wohnanlage Lindenhof;01;Lindenstraße 12a;01099 Dresden;006;Wohnung;2. OG rechts;"
        "3;71,30;00120100601;", "0012;Wohnanlage Lindenhof;01;Lindenstraße 12a;01099 Dresden;"
        "006;Wohnung;2. OG rechts;3;71,30;;;;;;;;;;;;;;;;Leerstand\r\nXX"))
    gone.write_bytes(b"\r\n".join(
        line for line in gone.read_bytes().split(b"\r\n") if not line.startswith(b"XX")))
    second = run(engine, gone)
    assert events_of(engine, second.run_id) == Counter(
        {("tenancy_ended", "00120100601", None, None, None): 1})


def test_schema_from_migrations_matches_the_models(engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    assert Database(engine).revision() == head_revision()


def test_the_stored_state_always_equals_what_the_tables_hold(engine, tmp_path: Path) -> None:
    """The diff reads etl_state instead of the tables: after every kind of import both must
    describe the same rows, hashes and active flags."""
    from etl.core.changes import DiffOptions
    from etl.stages.moves import state_fields
    from etl.store import state as load

    fields = state_fields(DiffOptions(stable_person_keys=False))  # the widest state
    gone = rewrite(tmp_path, "mieterliste_2026-12-15.csv", DEC, (";004741;", ";004799;"))
    back = rewrite(tmp_path, "mieterliste_2027-01-01.csv", NOV, ("01.11.2026", "01.01.2027"))
    steps = [NOV, DEC, gone, back]  # first import, moves, a new person key, reactivations

    for k, path in enumerate(steps):
        result = run(engine, path, force_override(k), override_reason="test" if k else None)
        assert result.status == "applied", (path.name, result.status)
        assert_stored_state_equals_tables(engine, path.name)
        with engine.connect() as conn:
            assert load._stored_state(conn, "wg-lindenhof", fields) is None  # needs more


def assert_stored_state_equals_tables(engine, step: str) -> None:
    from etl.core.changes import DiffOptions
    from etl.stages.moves import state_fields
    from etl.store import state as load

    def sort(frame):
        return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)

    with engine.connect() as conn:
        stored = load._stored_state(conn, "wg-lindenhof", state_fields(DiffOptions()))
        tables = load._table_state(conn, "wg-lindenhof", state_fields(DiffOptions()))
    assert stored is not None
    for name in db.ENTITY_TABLES:
        assert sort(stored[name]).equals(sort(tables[name])), (step, name)


def force_override(_step: int) -> SourceConfig:
    return SourceConfig(client="wg-lindenhof", mapping="wodis-style",
                        guard=GuardConfig(max_ended_share=1, max_shrink=1))


def test_rows_are_written_in_chunks_without_losing_any(engine, monkeypatch) -> None:
    """COPY (PostgreSQL) and executemany (SQLite) take a few rows at a time: a chunk boundary
    must neither drop nor repeat a row, for new rows as for changed ones."""
    from etl.store import writes as load

    monkeypatch.setattr(load, "COPY_CHUNK_ROWS", 4)
    monkeypatch.setattr(load, "SQLITE_CHUNK_ROWS", 4)
    assert run(engine, NOV).status == "applied"
    assert row_counts(engine) == NOV_COUNTS
    result = run(engine, DEC, force_override(1), override_reason="test")
    assert result.status == "applied" and result.changes is not None
    assert sum(len(rows) for rows in result.changes.upserts.values()) > 4  # several chunks
    assert_stored_state_equals_tables(engine, DEC.name)


def test_a_multi_file_export_that_repeats_unchanged_files_is_applied(engine, tmp_path) -> None:
    """Next month's six files, five of them byte for byte last month's: the one changed file
    is applied (the ledger takes the new file; the repeated ones were applied before)."""
    source = SourceConfig(client="wasserturm", mapping="sap-style")
    november = sorted((SAMPLES / "sap-style").glob("*.csv"))
    assert run(engine, november, source, "wasserturm").status == "applied"
    december = []
    for path in november:
        target = tmp_path / path.name.replace("20261101", "20261201")
        body = path.read_bytes()
        if path.name.startswith("RE_GP_"):
            body = body.replace(b"0421 123456;;joerg", b"0421 654321;;joerg", 1)
        target.write_bytes(body)
        december.append(target)
    result = run(engine, december, source, "wasserturm")
    assert result.status == "applied", result
    assert events_of(engine, result.run_id) == Counter(
        {("contact_changed", "0000104711", "phone", None, None): 1})
    again = run(engine, december, source, "wasserturm")
    assert again.status == "duplicate"
