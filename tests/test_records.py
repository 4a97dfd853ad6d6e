"""Every run on record: applied, unchanged, duplicate, rejected, refused and failed runs, with
their files, findings per rule, guard verdict, timings and report — and the portal's tables
untouched by a rejection. `etl runs` lists them all, `etl runs RUN_ID` shows one in full."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import etl.runner.passes
from etl.cli import app
from etl.core.config import load_config
from etl.core.errors import SourceUnavailable
from etl.drops.local import LocalDrop
from etl.runner import Runner
from etl.store import Database
from tests.conftest import SAMPLES, dump, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"
cli = CliRunner()


@pytest.fixture
def setup(tmp_path: Path, database_url: str, engine):
    config = write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    return Runner(load_config(config), Database(engine)), tmp_path / "drop", config


def runs(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "SELECT * FROM etl_run ORDER BY started_at, run_id")).mappings()]


def test_a_rejected_export_is_on_record_and_its_report_names_the_run(setup, engine) -> None:
    runner, drop, config = setup
    before = dump(engine)
    shutil.copy(BAD, drop / "inbox" / "mieterliste_2026-11-01.csv")
    [outcome] = runner.run("lindenhof").outcomes
    assert outcome.status == "rejected" and dump(engine) == before  # the portal untouched
    [run] = runs(engine)
    assert (run["run_id"], run["status"], run["client"]) == (outcome.run_id, "rejected",
                                                              "wg-lindenhof")
    assert json.loads(run["findings"]) == {"email.format": 1, "rows.too_many_damaged": 1}
    assert run["report"].endswith("error/mieterliste_2026-11-01.fehler.txt")
    text = (drop / "error" / "mieterliste_2026-11-01.fehler.txt").read_text("utf-8-sig")
    run_id = re.search(r"Lauf / run: (\S+),", text)[1]  # type: ignore[index]
    shown = cli.invoke(app, ["runs", run_id, "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert f"Run {run_id}" in shown.output and "REJECTED" in shown.output
    problems = next(line for line in shown.output.splitlines() if line.startswith("Problems:"))
    assert {"email.format 1", "rows.too_many_damaged 1"} == set(problems[10:].split(", "))
    assert "sha256 " in shown.output and "Report: " in shown.output
    assert "stefan" not in shown.output  # never a resident's data
    listed = cli.invoke(app, ["runs", "--config", str(config)])
    assert run_id in listed.output and "rejected" in listed.output
    unknown = cli.invoke(app, ["runs", "nope", "--config", str(config)])
    assert unknown.exit_code == 2 and "there is no run nope" in unknown.output


def test_refused_duplicate_and_applied_runs_are_on_record(setup, engine) -> None:
    runner, drop, config = setup
    shutil.copy(NOV, drop / "inbox")
    shutil.copy(DEC, drop / "inbox")
    runner.run("lindenhof")  # applied, then refused by the guard
    shutil.copy(NOV, drop / "inbox" / "mieterliste_2026-11-01-again.csv")
    runner.run("lindenhof")  # the same content again: a duplicate
    recorded = runs(engine)
    assert [r["status"] for r in recorded] == ["applied", "refused", "duplicate"]
    applied, refused, _ = recorded
    assert applied["guard"] == "passed" and set(eval_json(applied["timings"])) == {
        "check", "diff", "guard", "load"}
    assert refused["guard"] == "refused"
    assert eval_json(refused["findings"]) == {"guard.too_many_ended": 1}
    assert refused["report"].endswith("error/mieterliste_2026-12-01.fehler.txt")
    listed = cli.invoke(app, ["runs", "--config", str(config)])  # every kind in one table
    assert listed.exit_code == 0, listed.output
    assert all(s in listed.output for s in ("applied", "refused", "duplicate"))
    assert "guard.too_many_ended 1" in listed.output and "NaN" not in listed.output
    with engine.connect() as conn:
        files = conn.execute(sa.text("SELECT run_id, outcome, size FROM etl_file ORDER BY "
                                     "outcome")).all()
    assert [(f.outcome, f.size > 0) for f in files] == [
        ("applied", True), ("duplicate", True), ("refused", True)]


def eval_json(text: str) -> dict:
    return json.loads(text)


class _GoneMidway(LocalDrop):
    """A drop whose server goes away while a file is being downloaded."""

    def fetch(self, folder, name, dest, progress=None):  # type: ignore[no-untyped-def]
        raise SourceUnavailable(f"{self.label}: downloading {name}: connection lost")


def test_a_failed_run_is_on_record_with_its_message(setup, engine, monkeypatch) -> None:
    runner, drop, _ = setup
    monkeypatch.setattr(etl.runner.passes, "open_drop",
                        lambda cfg, *_: _GoneMidway(Path(cfg.path)))
    shutil.copy(NOV, drop / "inbox")
    done = runner.run("lindenhof")
    assert [o.status for o in done.outcomes] == ["failed"] and done.exit_code == 5
    [run] = runs(engine)
    assert run["status"] == "failed" and "connection lost" in run["message"]
    assert run["run_id"] == done.outcomes[0].run_id
    assert (drop / "inbox" / NOV.name).exists()
