"""Plan, review, apply: `etl plan --out` saves the change set with what it was computed against;
`etl apply` imports exactly that — or refuses when a file, the database or the computation
changed since. The plan holds keys and counts, never residents' data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import ROOT, SAMPLES, dump, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
cli = CliRunner()


def etl(*args: str):  # type: ignore[no-untyped-def]
    return cli.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def setup(tmp_path: Path, database_url: str, engine):  # type: ignore[no-untyped-def]
    cfg = str(write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style"}}))
    files = {}
    for sample in (NOV, DEC):
        files[sample.name] = tmp_path / sample.name
        shutil.copy(sample, files[sample.name])
    return cfg, files, tmp_path / "dec.plan.json"


def events(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT entity, entity_key, event, from_unit, to_unit FROM change_event "
            "WHERE event <> 'initial_import'")).all())


def test_apply_imports_exactly_the_reviewed_plan(setup, engine) -> None:
    cfg, files, plan = setup
    assert etl("-c", cfg, "import", str(files[NOV.name]), "-s", "lindenhof").exit_code == 0
    before = dump(engine)
    planned = etl("-c", cfg, "plan", str(files[DEC.name]), "-s", "lindenhof", "--out", str(plan))
    assert planned.exit_code == 4 and "REFUSED" in planned.output  # the guard: 4 of 14 end
    assert dump(engine) == before  # a plan writes nothing
    saved = json.loads(plan.read_text("utf-8"))
    assert saved["review"]["events"]["moved"] == 4 and saved["review"]["guard"] == "refused"
    text = plan.read_text("utf-8")
    for personal in ("Müller", "Çelik", "@example.de", "0351"):
        assert personal not in text  # keys and counts only

    assert etl("-c", cfg, "apply", str(plan)).exit_code == 4  # the guard still judges
    applied = etl("-c", cfg, "apply", str(plan), "--force", "--reason", "geprüft")
    assert applied.exit_code == 0 and "APPLIED" in applied.output
    reviewed = sorted((c["entity"], c["entity_key"], c["event"], c["from_unit"], c["to_unit"])
                      for c in saved["review"]["changes"])
    assert events(engine) == reviewed


def test_a_database_that_changed_since_refuses_the_plan(setup, engine) -> None:
    cfg, files, plan = setup
    assert etl("-c", cfg, "plan", str(files[NOV.name]), "-s", "lindenhof", "--out",
               str(plan)).exit_code == 0
    assert etl("-c", cfg, "import", str(files[DEC.name]), "-s", "lindenhof").exit_code == 0
    before = dump(engine)
    stale = etl("-c", cfg, "apply", str(plan))
    assert stale.exit_code == 4 and "the database changed since the plan was made" in \
        stale.output
    assert dump(engine) == before


def test_a_file_that_changed_since_refuses_the_plan(setup, engine) -> None:
    cfg, files, plan = setup
    assert etl("-c", cfg, "plan", str(files[NOV.name]), "-s", "lindenhof", "--out",
               str(plan)).exit_code == 0
    files[NOV.name].write_bytes(files[NOV.name].read_bytes().replace(b"0351", b"0352", 1))
    before = dump(engine)
    stale = etl("-c", cfg, "apply", str(plan))
    assert stale.exit_code == 4 and "changed since the plan was made" in stale.output
    assert dump(engine) == before


def test_a_computation_that_changed_refuses_the_plan(setup, engine, tmp_path: Path) -> None:
    """The same files and database, but the mapping changed after the review (offices are
    mapped as flats now): the export computes to other changes than the reviewed ones."""
    cfg, files, plan = setup
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    data = yaml.safe_load(Path(cfg).read_text("utf-8"))
    Path(cfg).write_text(yaml.safe_dump({**data, "mappings_dir": str(mappings)}), "utf-8")
    assert etl("-c", cfg, "import", str(files[NOV.name]), "-s", "lindenhof").exit_code == 0
    assert etl("-c", cfg, "plan", str(files[DEC.name]), "-s", "lindenhof", "--out",
               str(plan)).exit_code == 4
    dialect = mappings / "wodis-style.yaml"
    dialect.write_text(dialect.read_text("utf-8").replace("Wohnung: living", "Wohnung: commercial"),
                       "utf-8")
    before = dump(engine)
    stale = etl("-c", cfg, "apply", str(plan), "--force", "--reason", "x")
    assert stale.exit_code == 4 and "computes to other changes" in stale.output
    assert dump(engine) == before


def test_a_plan_that_is_not_one_is_exit_3(tmp_path: Path) -> None:
    bogus = tmp_path / "plan.json"
    bogus.write_text('{"format": "something else"}')
    result = etl("apply", str(bogus))
    assert result.exit_code == 3 and "cannot be read" in result.output
