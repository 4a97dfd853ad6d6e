"""The next export by its changed lines (issue 13, `etl.pipeline.delta`): only the lines the last
accepted export did not have are read, mapped and validated — and the outcome is exactly the
whole read's: the same status, run record, findings, events and rows, also when a changed line
contradicts an unchanged one, a key vanishes that an unchanged row refers to, the mapping or a
rule changed, the encoding changed, or the state was changed by an erasure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.generate import generate, write
from etl.core.config import SourceConfig
from etl.core.exports import ExportFile
from etl.core.mapping_load import load_mapping
from etl.pipeline import check_export, delta, import_export
from etl.stages.read import head_of, read_table
from etl.stages.read.delta import data_lines, read_lines
from etl.stages.read.encoding import line_local
from etl.store import Database, RunRecord
from tests.conftest import MINI_HEADER, MINI_ROW
from tests.test_diff_properties import _active, exports
from tests.test_hold import _mandant_mapping
from tests.test_hold import _write as _hold_write
from tests.test_unchanged import MAPPINGS, OPEN, RULES, _events, _write, assert_alike

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [*["as before"] * 8, "roles swapped", "austrian"]


@pytest.fixture(autouse=True)
def _any_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small exports: the changed lines are read on their own however many of them there are."""
    monkeypatch.setattr(delta, "MAX_CHANGED_SHARE", 1.0)


def _both(database: Database, tag: str, first: Path, second: Path, *, variant: str = "as before",
          rules: str = "as before") -> dict[str, object]:
    """Two sources import ``first`` and then ``second``; the second import of "full" is forced
    to read the whole export (its stored lines are dropped). Both must end alike."""
    results = {}
    for path in ("fast", "full"):
        name = f"{tag}-{path}"
        source = SourceConfig(client=name, mapping="mini", guard=OPEN)
        import_export([first], name, source, MAPPINGS["as before"], database)
        if path == "full":
            with database.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM etl_lines WHERE source = :s"), {"s": name})
        source = source.model_copy(update={"rules": RULES[rules]})
        results[path] = import_export([second], name, source, MAPPINGS[variant], database)
    assert_alike(database.engine, results["fast"], results["full"])
    assert "lines" not in results["full"].timings
    return results


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=exports(), c=exports(), data=st.data(),
       encodings=st.sampled_from([*[("cp1252", "cp1252"), ("utf-8", "utf-8")] * 3,
                                  ("utf-8", "cp1252")]),
       variant=st.sampled_from(VARIANTS), rules=st.sampled_from([*["as before"] * 8, "stricter"]))
def test_the_changed_lines_give_what_the_whole_read_gives(tmp_path_factory, shared, a, c, data,
                                                          encodings, variant, rules) -> None:
    """The next export keeps some of the first one's lines and takes others of an unrelated
    export (so a unit, person or contract may now have two different rows, or lose the row an
    unchanged line refers to). Whatever the changed lines alone could not tell goes to the whole
    read; the outcome is always the whole read's."""
    kept = [line for line in a if data.draw(st.sampled_from([True, True, True, False]))]
    lines = kept + data.draw(st.lists(st.sampled_from(c), max_size=2, unique=True))
    folder = tmp_path_factory.mktemp("delta")
    first = _write(folder / "x_2026-11-01.csv", ["Stand: 01.11.2026"], a, encodings[0])
    second = _write(folder / "x_2026-12-01.csv", ["Stand: 01.12.2026"], lines or a[:1],
                    encodings[1])
    results = _both(shared, folder.name, first, second, variant=variant, rules=rules)
    fast = results["fast"]
    event("by its changed lines" if "lines" in fast.timings else "whole")
    if "lines" in fast.timings:  # the shortcut: only for a clean export read the same way
        assert fast.findings is None and variant == rules == "as before"


def _mini(folder: Path, name: str, rows: list[str], day: str = "01.11.2026") -> Path:
    return _write(folder / name, [f"Stand: {day}"], rows, "cp1252")


UNIT_2 = MINI_ROW.replace(";01;", ";02;").replace(";V1;", ";V2;").replace(";P1;", ";P2;")
CO_TENANT = MINI_ROW.replace(";P1;HM;Anna;", ";P3;MM;Ben;")
HOUSE_2 = UNIT_2.replace("0001;1;", "0001;2;")
FIRST = [MINI_ROW, CO_TENANT, UNIT_2, HOUSE_2.replace(";V2;", ";V4;").replace(";P2;", ";P4;")]


def test_a_next_export_is_read_by_its_changed_lines(tmp_path: Path) -> None:
    """A new phone-book entry, a move out and a new tenant: only those lines are read (stage
    ``lines``), and the events and rows are the whole read's."""
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    first = _mini(tmp_path, "x_2026-11-01.csv", FIRST)
    rows = [MINI_ROW.replace("anna@", "anna.gross@"), UNIT_2.replace(";V2;", ";V5;")
            .replace(";P2;", ";P5;"), FIRST[3]]
    second = _mini(tmp_path, "x_2026-12-01.csv", rows, "01.12.2026")
    fast = _both(database, "n", first, second)["fast"]
    assert fast.status == "applied" and "lines" in fast.timings and "check" not in fast.timings
    kinds = set(fast.changes.events["event"])
    assert {"contact_changed", "moved_in", "moved_out", "tenancy_added"} <= kinds
    database.engine.dispose()


@pytest.mark.parametrize(("case", "rows"), [
    # the co-tenant's line now gives the unit another area than the unchanged line gives it
    ("two rows, one key", [MINI_ROW, CO_TENANT.replace(";60,5;", ";61;"), *FIRST[2:]]),
    # house 2 leaves the export while an unchanged line's unit still names it... (cannot be:
    # its lines are its units') — so a tenancy's unit vanishes under an unchanged membership
    ("a vanished house", [MINI_ROW, CO_TENANT, UNIT_2]),
    ("a finding", [MINI_ROW, CO_TENANT, UNIT_2.replace("01.01.2020", "31.02.2020"), FIRST[3]]),
])
def test_what_the_changed_lines_cannot_tell_goes_to_the_whole_read(tmp_path: Path, case: str,
                                                                     rows: list[str]) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    first = _mini(tmp_path, "x_2026-11-01.csv", FIRST)
    second = _mini(tmp_path, "x_2026-12-01.csv", rows, "01.12.2026")
    fast = _both(database, "w", first, second)["fast"]
    assert "lines" not in fast.timings, case
    database.engine.dispose()


def test_after_an_erasure_the_whole_export_is_read(tmp_path: Path) -> None:
    """An erasure rewrites the client's stored state: the stored lines no longer belong to it."""
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    source = SourceConfig(client="c1", mapping="mini", guard=OPEN)

    def imported(day: int, rows: list[str]) -> dict[str, float]:
        path = _mini(tmp_path, f"x_2026-11-{day:02d}.csv", rows, f"{day:02d}.11.2026")
        result = import_export([path], "x", source, MAPPINGS["as before"], database)
        assert result.status == "applied"
        return result.timings

    imported(1, FIRST)
    assert "lines" in imported(2, [FIRST[0], *FIRST[2:]])  # the co-tenant moved out
    stamp = ExportFile.of(tmp_path / "x_2026-11-02.csv").export_time
    assert database.erase_person("P3", RunRecord("erase-1", "x", "c1", stamp, None, None, None),
                                 stamp)
    assert "check" in imported(3, [FIRST[0], FIRST[2]])
    assert "lines" in imported(4, [FIRST[0]])  # and the next one by its lines again
    database.engine.dispose()


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig"])
def test_some_records_read_as_the_whole_file_reads_them(tmp_path: Path, encoding: str) -> None:
    """The bench generator's export (title lines, CRLF, notes with line breaks inside quotes,
    a count line at the end): any records read on their own give the rows, line numbers and
    cells the whole read gives them."""
    path = tmp_path / "x.csv"
    frame = generate(900)
    write(frame, path)
    if encoding != "cp1252":
        path.write_bytes(path.read_bytes().decode("cp1252").encode(encoding))
    data = path.read_bytes()
    mapping = load_mapping("wodis-style", ROOT / "mappings")
    columns = mapping.columns("residents")
    whole_table, _ = read_table(data, "x.csv", "residents", columns, mapping.dialect)
    chosen = line_local(data, mapping.dialect.encoding)
    assert chosen == whole_table.encoding
    header_line, title = head_of(data, "x.csv", columns, mapping.dialect, chosen)
    lines = data_lines(data, header_line, mapping.dialect, chosen)
    assert lines is not None and len(lines.numbers) == len(frame)  # the count line is cut
    assert set(whole_table.frame["_line"]) <= set(lines.numbers)
    rng = np.random.default_rng(7)
    for share in (0.0, 0.01, 0.3, 1.0):
        pick = np.flatnonzero(rng.random(len(lines.numbers)) < share)
        read = read_lines(data, lines, pick, "x.csv", "residents", columns, mapping.dialect,
                          chosen, title)
        assert read is not None and read[1].empty
        expected = whole_table.frame[whole_table.frame["_line"].isin(lines.numbers[pick])]
        pd.testing.assert_frame_equal(read[0].frame, expected.reset_index(drop=True))
        assert read[0].headers == whole_table.headers and read[0].title == whole_table.title


def test_a_file_set_is_read_by_its_changed_lines(tmp_path: Path) -> None:
    """A multi-file export (SAP style, UTF-8 with BOM): one changed line in one file of six is
    all that is read, and the outcome is the whole read's."""
    mapping = load_mapping("sap-style", ROOT / "mappings")
    first = sorted((ROOT / "sample_exports" / "sap-style").glob("*.csv"))
    folder = tmp_path / "next"
    folder.mkdir()
    second = []
    for path in first:
        data = path.read_bytes()
        if path.name.startswith("RE_GP_"):
            data = data.replace(b"0421 123456;;joerg", b"0421 654321;;joerg")
        second.append(folder / path.name.replace("20261101", "20261201"))
        second[-1].write_bytes(data)
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    results = {}
    for path in ("fast", "full"):
        source = SourceConfig(client=path, mapping="sap-style", guard=OPEN)
        assert import_export(first, path, source, mapping, database).status == "applied"
        if path == "full":
            with database.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM etl_lines WHERE source = 'full'"))
        results[path] = import_export(second, path, source, mapping, database)
    fast, full = results["fast"], results["full"]
    assert "lines" in fast.timings and "lines" not in full.timings
    assert fast.status == full.status == "applied"
    assert set(fast.changes.events["event"]) == {"contact_changed"}
    assert _events(database.engine, fast.run_id) == _events(database.engine, full.run_id)
    assert _active(database.engine, "fast") == _active(database.engine, "full")
    database.engine.dispose()


def test_a_source_of_client_codes_is_always_read_whole(tmp_path: Path) -> None:
    """Rows of other client codes are left out of the one client's import: a row reads
    otherwise depending on the codes imported, so no lines are stored (nor hashed)."""
    spec = _mandant_mapping()
    source = SourceConfig(client="c1", mapping="mini", guard=OPEN, clients={"100": "c1"})
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    rows = [row + ";100" for row in FIRST]
    for day, kept in ((1, rows), (2, rows[:3])):
        path = _hold_write(tmp_path, f"x_2026-11-0{day}.csv", kept,
                           header=MINI_HEADER + ";Mandant")
        result = import_export([path], "x", source, spec, database)
        assert result.status == "applied" and "check" in result.timings
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM etl_lines")).scalar() == 0
    assert check_export([path], spec, keep_lines=True).lines == {"rows": None}
    assert check_export([path], spec).lines == {}  # not asked for
    database.engine.dispose()
