"""The same content again (issue 13, `etl.pipeline.unchanged`): an export whose data lines are
those of the last accepted export, read with the same mapping, rules and code, is recorded as
unchanged without a row being read — and that shortcut gives exactly what the full path gives,
also when the mapping or the source's rules changed between the two exports, the title lines
differ or are not plain ASCII, or the export was not clean."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etl.cli import app
from etl.core.config import GuardConfig, SourceConfig
from etl.core.mapping_load import parse_mapping
from etl.pipeline import import_export
from etl.store import Database
from tests.conftest import MINI_HEADER, MINI_ROW, MINI_YAML, write_config
from tests.test_diff_properties import _active, exports

STAND = r"Stand: (?P<d>\d\d)\.(?P<m>\d\d)\.(?P<y>\d{4})"


def _mapping(variant: str):
    data = yaml.safe_load(MINI_YAML)
    data["files"]["rows"]["export_time"] = {"title": STAND}
    if variant == "roles swapped":  # every membership changes
        data["value_maps"]["role"]["values"] = {"HM": "co_tenant", "MM": "main_tenant"}
    elif variant == "austrian":  # every 5-digit postal code is an error now
        data["country"] = "AT"
    return parse_mapping(data, "mini")


MAPPINGS = {v: _mapping(v) for v in ("as before", "roles swapped", "austrian")}
OPEN = GuardConfig(max_ended_share=1.0, max_shrink=1.0)
RULES = {"as before": {}, "stricter": {"encoding.lossy": "error", "phone.format": "error"}}
TITLES = st.lists(st.sampled_from([
    "Mieterliste", "Stand: 01.12.2026", "Stand: 02.12.2026 ", "Stand: 31.02.2026",
    "Mieterliste Größe",  # not plain ASCII: no shortcut after it
    "", ";;;", "Export; Wohnungsbau eG",
]), max_size=3)


def _write(path: Path, title: list[str], rows: list[str], encoding: str) -> Path:
    path.write_bytes("\r\n".join([*title, MINI_HEADER, *rows, ""]).encode(encoding))
    return path


def _events(engine, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT entity, entity_key, event, fields, from_unit, to_unit, from_tenancy, "
            "to_tenancy, related_key "
            "FROM change_event WHERE run_id = :run"), {"run": run_id}).all())


def _run(engine, run_id: str) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT status, export_time, guard, summary, warnings, held, findings FROM etl_run "
            "WHERE run_id = :run"), {"run": run_id}).one())


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=exports(), b=st.one_of(st.none(), exports()), title_a=TITLES, title_b=TITLES,
       encoding=st.sampled_from(["utf-8", "cp1252"]), variant=st.sampled_from(sorted(MAPPINGS)),
       rules=st.sampled_from(sorted(RULES)))
def test_the_shortcut_gives_what_the_full_path_gives(tmp_path_factory, shared, a, b, title_a,
                                                     title_b, encoding, variant, rules) -> None:
    """Two sources import the same two exports; the second export of one of them is forced
    through the full path (its snapshot forgets the raw digest). Both end alike: the same
    outcome, run record, events and active rows."""
    folder = tmp_path_factory.mktemp("again")
    rows_b = a if b is None else b  # None: the same rows again (the shortcut's case)
    first = _write(folder / "x_2026-11-01.csv", ["Stand: 01.11.2026", *title_a], a, "utf-8")
    second = _write(folder / "x_2026-12-02.csv", title_b, rows_b, encoding)
    results = {}
    for path in ("fast", "full"):
        source = SourceConfig(client=f"{folder.name}-{path}", mapping="mini", guard=OPEN)
        name = f"{folder.name}-{path}"
        imported = import_export([first], name, source, MAPPINGS["as before"], shared)
        assert imported.status == "applied"
        clean = imported.findings is None
        if path == "full":
            with shared.engine.begin() as conn:
                conn.execute(sa.text("UPDATE etl_snapshot SET raw_digest = NULL "
                                     "WHERE source = :s"), {"s": name})
        source = source.model_copy(update={"rules": RULES[rules]})
        results[path] = import_export([second], name, source, MAPPINGS[variant], shared)
    fast, full = results["fast"], results["full"]
    assert_alike(shared.engine, fast, full)
    assert "again" not in full.timings
    same = _body(first) == _body(second) and variant == rules == "as before"
    if "again" in fast.timings:  # the shortcut: only for the same lines, mapping and rules
        assert same and fast.status == "unchanged" and set(fast.timings) == {"again", "load"}
    stamp = re.search(STAND, "\n".join(title_b))
    readable = stamp is not None and stamp.group(0) != "Stand: 31.02.2026"
    plain = all(t.isascii() for t in [*title_a, *title_b])
    if same and plain and readable and clean:
        assert "again" in fast.timings, "the last accepted export again was read in full"


def assert_alike(engine, fast, full) -> None:
    """Two imports ended alike: the same outcome, run record, events and active rows."""
    assert fast.status == full.status
    assert _run(engine, fast.run_id) == _run(engine, full.run_id)
    assert _events(engine, fast.run_id) == _events(engine, full.run_id)
    assert _active(engine, fast.source) == _active(engine, full.source)


def _body(path: Path) -> bytes:
    data = path.read_bytes()
    return data[data.index(b"WE;Haus;Stra"):]


def _config(tmp_path: Path, mappings: Path) -> str:
    return str(write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {
        "lindenhof": {"client": "wg-lindenhof", "mapping": "mini",
                      "drop": {"path": str(tmp_path / "drop")}}}, mappings_dir=str(mappings)))


def test_the_cli_imports_the_same_content_again_as_unchanged_until_the_mapping_changes(
        tmp_path: Path) -> None:
    """`etl import`: the same rows under another title are unchanged, with nothing read; an
    edit of the mapping file reads them again (and here changes every membership)."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    data = yaml.safe_load(MINI_YAML)
    data["files"]["rows"]["export_time"] = {"title": STAND}
    (mappings / "mini.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                        encoding="utf-8")
    config = _config(tmp_path, mappings)
    rows = [MINI_ROW, MINI_ROW.replace(";01;", ";02;").replace(";V1;", ";V2;")
            .replace(";P1;", ";P2;")]
    nov = _write(tmp_path / "liste_2026-11-01.csv", ["Stand: 01.11.2026"], rows, "cp1252")
    dec = _write(tmp_path / "liste_2026-12-01.csv", ["Stand: 01.12.2026"], rows, "cp1252")
    jan = _write(tmp_path / "liste_2027-01-01.csv", ["Stand: 01.01.2027"], rows, "cp1252")
    runner = CliRunner()
    assert runner.invoke(app, ["-c", config, "db", "upgrade"]).exit_code == 0

    def imported(path: Path) -> dict:
        out = runner.invoke(app, ["-c", config, "import", str(path), "--source", "lindenhof",
                                  "--json"])
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout.splitlines()[-1])

    assert imported(nov)["status"] == "applied"
    again = imported(dec)
    assert again["status"] == "unchanged" and set(again["timings"]) == {"again", "load"}
    shown = runner.invoke(app, ["-c", config, "runs", again["run_id"], "--json"])
    record = json.loads(shown.stdout)
    assert record["status"] == "unchanged" and record["export_time"].startswith("2026-12-01")
    data["value_maps"]["role"]["values"] = {"HM": "co_tenant", "MM": "main_tenant"}
    (mappings / "mini.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                        encoding="utf-8")
    changed = imported(jan)
    assert changed["status"] == "applied" and "again" not in changed["timings"]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    roles = pd.read_sql("SELECT role FROM membership WHERE active", engine)["role"]
    assert set(roles) == {"co_tenant"}
    engine.dispose()


# `python -m etl` with a note of the heavy libraries the process imported, written at exit
_NOTED = """import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(m for m in ("pandas", "pyarrow", "numpy",
    "pandera", "hypothesis") if sys.modules.get(m) is not None)), file=sys.stderr))
sys.argv = ["etl", *sys.argv[1:]]
from etl.__main__ import *
"""


def test_the_command_recognises_the_same_export_again_without_pandas(tmp_path: Path) -> None:
    """The `etl` command records the last accepted export's lines again as unchanged, and the
    same bytes again as a duplicate, without importing pandas, pyarrow, numpy or pandera
    (`etl.pipeline.again`): it costs little more than hashing the file. No import ever loads
    hypothesis (pandera's data synthesis)."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "mini.yaml").write_text(MINI_YAML, encoding="utf-8")
    config = _config(tmp_path, mappings)
    nov = _write(tmp_path / "liste_2026-11-01.csv", ["Mieterliste"], [MINI_ROW], "cp1252")
    dec = _write(tmp_path / "liste_2026-12-01.csv", ["Mieterliste 2"], [MINI_ROW], "cp1252")

    def etl(*args: str) -> tuple[str, list[str]]:
        done = subprocess.run([sys.executable, "-c", _NOTED, "-c", config, *args],
                              capture_output=True, text=True, check=True)
        return done.stdout, json.loads(done.stderr.splitlines()[-1])

    etl("db", "upgrade")
    out, first = etl("import", str(nov), "--source", "lindenhof")
    assert "APPLIED" in out and "pandera" in first and "hypothesis" not in first
    out, again = etl("import", str(dec), "--source", "lindenhof")
    assert "UNCHANGED" in out and "Rows written: none; ended: none" in out
    assert again == []
    out, duplicate = etl("import", str(dec), "--source", "lindenhof")  # the same bytes again
    assert "DUPLICATE" in out and duplicate == []
    out, _ = etl("runs", "--json")
    assert [json.loads(line)["status"] for line in out.splitlines()] == [
        "duplicate", "unchanged", "applied"]


def test_an_export_with_findings_is_read_in_full_again(tmp_path: Path) -> None:
    """A warning of the last accepted export is reported again by the same export: no
    shortcut after an export that was not clean."""
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    spec = MAPPINGS["as before"]
    source = SourceConfig(client="c1", mapping="mini", guard=OPEN)
    lossy = MINI_ROW.replace("Anna", "J?rg")  # encoding.lossy: a warning, imported
    nov = _write(tmp_path / "x_2026-11-01.csv", ["Stand: 01.11.2026"], [lossy], "utf-8")
    dec = _write(tmp_path / "x_2026-12-01.csv", ["Stand: 01.12.2026"], [lossy], "utf-8")
    assert import_export([nov], "x", source, spec, database).status == "applied"
    again = import_export([dec], "x", source, spec, database)
    assert again.status == "unchanged" and "again" not in again.timings
    assert set(again.findings["rule"]) == {"encoding.lossy"}
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT raw_digest FROM etl_snapshot")).scalar() is None
    database.engine.dispose()


def test_after_a_clean_export_a_damaged_one_is_still_rejected_as_the_full_read_says(
        tmp_path: Path) -> None:
    """The check for the same lines never stands in for the full read's judgement: no header,
    a file of another encoding, a binary file and an empty one are rejected as before."""
    database = Database.connect(f"sqlite:///{tmp_path / 'p.db'}")
    database.upgrade()
    spec = MAPPINGS["as before"]
    source = SourceConfig(client="c1", mapping="mini", guard=OPEN)
    rows = [MINI_ROW]
    nov = _write(tmp_path / "x_2026-11-01.csv", ["Stand: 01.11.2026"], rows, "utf-8")
    assert import_export([nov], "x", source, spec, database).status == "applied"
    broken = {
        "header.not_found": b"Stand: 02.11.2026\r\nA;B;C\r\n1;2;3\r\n",
        "file.binary": b"Stand: 02.11.2026\r\n\x00\x01\x02" * 10,
        "file.empty": b"",
        "encoding.undecodable": ("Stand: 02.11.2026\r\n" + MINI_HEADER + "\r\n"
                                 + MINI_ROW + "\r\n").encode("utf-16-le"),
    }
    for day, (rule, data) in enumerate(broken.items(), start=2):
        path = tmp_path / f"x_2026-11-{day:02d}.csv"
        path.write_bytes(data)
        result = import_export([path], "x", source, spec, database)
        assert result.status == "rejected", rule
        assert "again" not in result.timings
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM etl_run WHERE status = 'rejected'")
                            ).scalar() == len(broken)
    database.engine.dispose()
