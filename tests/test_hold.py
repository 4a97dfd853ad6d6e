"""Hold back damaged rows, import the rest (``invalid_rows: hold``): a held row keeps its last
accepted state — it never causes an added, ended, changed or moved event — and what depends on
it is held with it; a damaged line, key or file still rejects the export, as does holding more
than the source allows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etl.cli import app
from etl.core import findings
from etl.core.canonical import canonical, key_of
from etl.core.config import GuardConfig, SourceConfig, load_config
from etl.core.errors import ConfigError
from etl.core.mapping_load import parse_mapping
from etl.pipeline import check_export, import_export
from etl.stages import hold
from etl.store import Database
from tests.conftest import (
    MINI_HEADER,
    MINI_ROW,
    MINI_YAML,
    SAMPLES,
    mapping,
    mini_mapping,
    write_config,
)
from tests.test_diff_properties import _active, exports

SPEC = mini_mapping()
OPEN = GuardConfig(max_ended_share=1.0, max_shrink=1.0)
HOLD = SourceConfig(client="c1", mapping="mini", guard=OPEN, invalid_rows="hold",
                    max_held_rows=1000, max_held_share=1.0)
NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
cli = CliRunner()

# one cell damaged the way real exports are: (what, old text, new text) on a let unit's row
DAMAGE = {
    "role": (";HM;", ";XX;"),  # value.unknown: the membership
    "area": (";EG;", ";EG;viel"),  # number.format: the unit, its tenancy and memberships
    "start": (";01.01.2020;", ";31.02.2020;"),  # date.format: the tenancy and memberships
}


def _write(folder: Path, name: str, rows: list[str], blank_lines: int = 1,
           header: str = MINI_HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n" * blank_lines, encoding="utf-8")
    return path


def _rows(path: Path) -> dict[str, set[tuple]]:
    out = {}
    for name, frame in check_export([path], SPEC).entities.frames.items():
        c = canonical(frame, name)
        out[name] = {tuple(r) for r in c.astype("object").where(c.notna(), None)
                     .itertuples(index=False, name=None)}
    return out


def _keyed(rows: set[tuple], name: str) -> dict[str, tuple]:
    frame = pd.DataFrame(list(rows), columns=canonical(pd.DataFrame(), name).columns)
    return dict(zip(key_of(frame, name), rows, strict=True)) if rows else {}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=exports(), b=exports(), damaged=st.lists(st.tuples(st.integers(0, 20),
                                                            st.sampled_from(sorted(DAMAGE))),
                                                  max_size=3))
def test_held_keys_keep_their_last_state_and_all_others_follow_the_export(
        tmp_path_factory, shared, a, b, damaged) -> None:
    """Importing an export with held rows equals importing the previous state for the held
    keys and the new state for all others — and no event names a held key."""
    folder = tmp_path_factory.mktemp("hold")
    client = folder.name
    source = HOLD.model_copy(update={"client": client})
    bad = list(b)
    for at, what in damaged:
        old, new = DAMAGE[what]
        i = at % len(bad)
        if old in bad[i]:
            bad[i] = bad[i].replace(old, new, 1)
    first = _write(folder, "x_2026-11-01.csv", a)
    assert import_export([first], client, source, SPEC, shared).status == "applied"
    before = _active(shared.engine, client)
    damaged_file = _write(folder, "x_2026-11-02.csv", bad, 2)  # never a's bytes
    result = import_export([damaged_file], client, source, SPEC, shared)
    after = _active(shared.engine, client)
    if result.status == "refused":  # the guard: e.g. no contract left but held ones
        assert after == before
        return
    checked = check_export([damaged_file], SPEC)
    errors = findings.errors(checked.findings)
    assert result.status in {"applied", "unchanged"}, result.findings
    assert len(findings.held(result.findings if result.findings is not None
                             else findings.empty())) == len(errors)
    held = hold.hold(checked.entities, errors).keys
    new = _rows(_write(folder, "b.csv", b))  # the export as it was meant
    for name in after:
        keys = set(key_of(held[name], name)) if len(held[name]) else set()
        expected = {k: r for k, r in _keyed(new[name], name).items() if k not in keys}
        expected |= {k: r for k, r in _keyed(before[name], name).items() if k in keys}
        assert _keyed(after[name], name) == expected, name
    with shared.engine.connect() as conn:
        events = pd.DataFrame(conn.execute(sa.text(
            "SELECT entity, entity_key, event, from_tenancy, to_tenancy FROM change_event "
            "WHERE run_id = :run"), {"run": result.run_id}).all(),
            columns=["entity", "entity_key", "event", "from_tenancy", "to_tenancy"])
    for name, keys in held.items():
        named = events[(events["entity"] == name)
                       & events["entity_key"].isin(set(key_of(keys, name)) if len(keys) else [])]
        assert named.empty, named
    members = held["membership"]
    for tenancy, person in zip(members["tenancy_id"], members["person_id"], strict=True):
        moved = events[(events["entity_key"] == person)
                       & ((events["from_tenancy"] == tenancy) | (events["to_tenancy"] == tenancy))]
        assert moved.empty, moved


def _config(tmp_path: Path, **source: object) -> str:
    return str(write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}, **source}},
        metrics={"textfile": str(tmp_path / "etl.prom")}))


def _damaged(folder: Path, old: bytes, new: bytes) -> Path:
    body = NOV.read_bytes()
    assert old in body
    (folder / "drop" / "inbox").mkdir(parents=True, exist_ok=True)
    path = folder / "drop" / "inbox" / "mieterliste_2026-11-02.csv"
    path.write_bytes(body.replace(old, new, 1))
    return path


def test_a_held_row_is_reported_archived_and_on_record(tmp_path: Path) -> None:
    """A resident's unknown role: the export is imported, the membership keeps its stored
    role, ERP staff get the line in the .fehler.csv beside the archived export, the run
    records it per rule."""
    cfg = _config(tmp_path, max_held_share=0.1)
    assert cli.invoke(app, ["db", "upgrade", "-c", cfg]).exit_code == 0
    assert cli.invoke(app, ["import", str(NOV), "-s", "lindenhof", "-c", cfg]).exit_code == 0
    _damaged(tmp_path, b";004741;HA;", b";004741;UM;")
    result = cli.invoke(app, ["run", "-c", cfg])
    assert result.exit_code == 0, result.output
    archived = list((tmp_path / "drop" / "archive").rglob("mieterliste_2026-11-02*"))
    report = next(p for p in archived if p.name.endswith(".fehler.csv"))
    text = report.read_text("utf-8-sig")
    assert "Fehler (Zeile zurückgehalten)" in text and ";13;Rolle;UM;value.unknown;" in text
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    with engine.connect() as conn:
        role = conn.execute(sa.text("SELECT role FROM membership WHERE person_id = '004741'"))
        run = conn.execute(sa.text("SELECT status, held FROM etl_run ORDER BY started_at DESC"))
        assert role.scalar() == "household_member"
        status, held = run.first()
    engine.dispose()
    assert status == "unchanged" and json.loads(held) == {"value.unknown": 1}
    runs = cli.invoke(app, ["runs", "-c", cfg])
    assert "+1 held back" in runs.output
    metrics = (tmp_path / "etl.prom").read_text("utf-8")
    assert 'etl_held_rows_total{rule="value.unknown",source="lindenhof"} 1.0' in metrics


def test_a_damaged_key_or_too_many_damaged_lines_still_reject(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_held_share=0.1)
    assert cli.invoke(app, ["db", "upgrade", "-c", cfg]).exit_code == 0
    key = _damaged(tmp_path, b";00120100501;", b";1,20100501E+09;")
    result = cli.invoke(app, ["import", str(key), "-s", "lindenhof", "-c", cfg, "--json"])
    assert result.exit_code == 4 and '"rejected"' in result.output
    role = _damaged(tmp_path, b";004741;HA;", b";004741;UM;")
    for source in ({"max_held_rows": 0}, {"invalid_rows": "reject_export"}):
        cfg = _config(tmp_path, max_held_share=0.1, **source)
        result = cli.invoke(app, ["import", str(role), "-s", "lindenhof", "-c", cfg, "-r",
                                  str(tmp_path / "r.csv")])
        assert result.exit_code == 4 and "REJECTED" in result.output
        report = (tmp_path / "r.csv").read_text("utf-8-sig")
        assert ("rows.too_many_damaged" in report) == ("max_held_rows" in source)


def test_a_held_unit_holds_its_tenancies_and_memberships(tmp_path: Path) -> None:
    """Dependants are held with what they depend on: a unit's unreadable area holds the unit,
    its contract and that contract's residents; the residents themselves stay."""
    path = tmp_path / NOV.name
    path.write_bytes(NOV.read_bytes().replace(b";72,50;", b";72 qm;", 1))
    checked = check_export([path], mapping("wodis-style"))
    held = hold.hold(checked.entities, findings.errors(checked.findings)).keys
    assert set(held["unit"]["unit_id"]) == {"0012/01/001"}
    assert set(held["tenancy"]["tenancy_id"]) == {"00120100101"}
    assert set(held["membership"]["person_id"]) == {"004711", "004712"}
    assert held["person"].empty and held["building"].empty


def _mandant_mapping():
    data = yaml.safe_load(MINI_YAML)
    data["client_column"] = "mandant"
    data["files"]["rows"]["columns"]["mandant"] = {"header": "Mandant"}
    return parse_mapping(data, "mini")


def test_rows_of_another_client_are_never_imported(tmp_path: Path) -> None:
    """An ERP job that exports every client: a source imports the codes it names
    (``clients: {"100": c1}``); each row of another code is ``client.foreign`` — held back
    while they are few (a mistyped code of one's own resident ends nothing), the export rejected
    when they are many."""
    spec = _mandant_mapping()
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    few = HOLD.model_copy(update={"clients": {"100": "c1"}})

    def export(name: str, foreign: dict[int, str]) -> Path:
        rows = [MINI_ROW.replace(";01;", f";0{n};").replace("V1", f"V{n}").replace("P1", f"P{n}")
                + f";{foreign.get(n, '100')}" for n in range(1, 5)]
        return _write(tmp_path, name, rows, header=MINI_HEADER + ";Mandant")

    own = export("x_2026-11-01.csv", {})
    assert import_export([own], "s", few, spec, database).status == "applied"
    stray = export("x_2026-11-02.csv", {3: "200"})
    checked = check_export([stray], spec, clients=["100"])
    assert set(zip(checked.findings["rule"], checked.findings["line"],
                   checked.findings["column"], checked.findings["value"], strict=True)) == {
        ("client.foreign", 4, "Mandant", "200")}
    result = import_export([stray], "s", few, spec, database)
    assert result.status == "unchanged" and result.changes.events.empty
    assert len(findings.held(result.findings)) == 1
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT active FROM tenancy WHERE tenancy_id = 'V3'")
                            ).scalar() == 1
    everyone = export("x_2026-11-03.csv", {2: "200", 3: "200", 4: "300"})
    result = import_export([everyone], "s", few.model_copy(update={"max_held_share": 0.5}),
                           spec, database)
    assert result.status == "rejected"
    assert "rows.too_many_damaged" in set(result.findings["rule"])
    database.engine.dispose()


def test_clients_are_checked_against_the_mapping_when_the_config_loads(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    data = yaml.safe_load(MINI_YAML)
    data["client_column"] = "mandant"
    data["files"]["rows"]["columns"]["mandant"] = {"header": "Mandant"}
    (tmp_path / "mappings" / "mini.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    for clients, wanted in (({}, "reads the client from 'mandant'"),
                            ({"100": "c2", "200": "c3"}, "client 'c1' is none of c2, c3")):
        cfg = tmp_path / "config.yaml"
        cfg.write_text(yaml.safe_dump({"mappings_dir": str(tmp_path / "mappings"), "sources": {
            "s": {"client": "c1", "mapping": "mini", "clients": clients}}}), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(cfg)
        assert wanted in str(info.value) + "\n".join(info.value.problems)
    data["client_column"] = "nowhere"
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert "client_column: file 'rows' has no source field 'nowhere'" in info.value.problems
