"""The CLI for scripts and people: `--json` lines parsed on every command that has it, the events
cursor, times in the configured zone, options given once on the app, choices checked, an example
in every command's help, and the README's CLI block in sync with the commands' options."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from etl.cli import app
from etl.core.events import ENTITY_NAMES, EVENT_TYPES
from etl.core.model import ENTITIES
from tests.conftest import ROOT, SAMPLES, write_config

cli = CliRunner()
NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"


def etl(*args: str):  # type: ignore[no-untyped-def]
    return cli.invoke(app, list(args), catch_exceptions=False)


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture
def imported(tmp_path: Path, database_url: str, engine) -> str:
    """A config whose database holds November, December (forced) and a rejected export; the
    drop holds nothing."""
    cfg = str(write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style", "schedule": "0 3 * * *",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}}))
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    first = etl("-c", cfg, "import", str(NOV), "-s", "lindenhof")
    assert first.exit_code == 0, first.output
    assert etl("-c", cfg, "import", str(DEC), "-s", "lindenhof", "--force", "--reason",
               "geprüft").exit_code == 0
    assert etl("-c", cfg, "import", str(BAD), "-s", "lindenhof").exit_code == 4
    return cfg


def test_json_lines_of_runs_events_and_status(imported: str) -> None:
    runs = jsonl(etl("-c", imported, "runs", "--json").stdout)
    assert [r["status"] for r in runs] == ["rejected", "applied", "applied"]
    assert runs[1]["override_reason"] == "geprüft" and runs[1]["summary"]["moved"] == 4
    # one bad line of 17 is more than the 5 % a source holds back by default
    assert runs[0]["findings"] == {"email.format": 1, "rows.too_many_damaged": 1}
    one = jsonl(etl("-c", imported, "runs", runs[1]["run_id"], "--json").stdout)
    assert len(one) == 1 and one[0]["guard"] == "overridden" and len(one[0]["files"]) == 1
    assert one[0]["files"][0]["sha256"] and one[0]["timings"]["load"] >= 0
    moved = jsonl(etl("-c", imported, "events", "--event", "moved", "--json").stdout)
    assert len(moved) == 4 and {e["event"] for e in moved} == {"moved"}
    assert all(e["from_unit"] and e["to_unit"] for e in moved)
    status = jsonl(etl("-c", imported, "status", "--json").stdout)
    assert status[0]["source"] == "lindenhof" and status[0]["failing"] is True
    assert status[0]["ok"] is False and status[0]["waiting"] == 0
    assert status[0]["last_export"].startswith("2026-12-01T01:00:00+01:00")


def test_times_are_in_the_configured_zone_to_the_second(imported: str) -> None:
    runs = jsonl(etl("-c", imported, "runs", "--json").stdout)
    stamp = runs[-1]["finished_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00", stamp), stamp
    table = etl("-c", imported, "runs").output
    assert "2026-11-01 01:00:00" in table  # the November export's time, Berlin
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", table)  # no microseconds
    assert "NaN" not in table and "None" not in table and "NaT" not in table


def test_the_events_cursor_reads_every_event_once_in_order(imported: str) -> None:
    everything = jsonl(etl("-c", imported, "events", "--limit", "1000", "--json").stdout)
    ids, cursor = [], 0
    while True:
        page = jsonl(etl("-c", imported, "events", "--after", str(cursor), "--limit", "7",
                         "--json").output)
        if not page:
            break
        ids += [e["id"] for e in page]
        cursor = page[-1]["id"]
    assert ids == [e["id"] for e in everything] and ids == sorted(ids) and len(ids) > 20
    human = etl("-c", imported, "events", "--after", str(ids[-2]))
    assert human.exit_code == 0 and len(human.output.splitlines()) == 3  # header, rule, one


def test_import_plan_validate_and_run_print_json(tmp_path: Path, imported: str) -> None:
    back = tmp_path / "mieterliste_2026-12-03.csv"  # November's rows again, another file
    back.write_bytes(NOV.read_bytes() + b"\r\n")
    plan = jsonl(etl("-c", imported, "plan", str(back), "-s", "lindenhof", "--json").stdout)
    assert plan[0]["status"] in {"planned", "refused"} and plan[0]["events"]
    bad = etl("-c", imported, "import", str(BAD), "-s", "lindenhof", "--json")
    assert bad.exit_code == 4
    rejected = jsonl(bad.stdout)[0]
    assert rejected["status"] == "rejected" and rejected["by_rule"] == {"email.format": 1,
                                                                "rows.too_many_damaged": 1}
    assert rejected["findings"][-1]["line"] > 1 and rejected["findings"][-1]["column"]
    checked = etl("validate", str(NOV), str(BAD), "-m", "wodis-style", "--json")
    assert checked.exit_code == 4
    assert [c["ok"] for c in jsonl(checked.stdout)] == [True, False]
    assert jsonl(checked.stdout)[0]["rows"]["person"] == 15
    shutil.copy(DEC, tmp_path / "drop" / "inbox" / "mieterliste_2026-12-02.csv")
    ran = etl("-c", imported, "run", "--json")
    passes = jsonl(ran.stdout)
    assert passes[0]["source"] == "lindenhof" and passes[0]["exit_code"] == ran.exit_code
    assert passes[0]["exports"][0]["key"] == "mieterliste_2026-12-02.csv"
    assert passes[0]["exports"][0]["status"] == "duplicate"  # the same file again


def test_options_once_on_the_app_and_after_the_command(imported: str, tmp_path: Path) -> None:
    assert etl("-c", imported, "runs", "--limit", "1").output.count("lindenhof") == 1
    assert etl("runs", "-c", imported, "--limit", "1").output.count("lindenhof") == 1
    missing = str(tmp_path / "missing.yaml")
    assert etl("-c", missing, "runs").exit_code == 3
    assert etl("-c", missing, "runs", "-c", imported).exit_code == 0  # after the command wins
    assert etl("--log-level", "debug", "-c", imported, "status").exit_code == 7


@pytest.mark.parametrize("args", [
    ["--log-level", "LOUD", "rules"],
    ["runs", "--limit", "0"],
    ["events", "--event", "moved_away"],
    ["events", "--after", "-1"],
    ["validate", str(NOV), "-m", "wodis-style", "--limit", "0"],
    ["run", "--log-level", "verbose"],
])
def test_choices_and_ranges_are_checked(args: list[str]) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_the_event_types_are_every_entity_s() -> None:
    assert tuple(ENTITIES) == ENTITY_NAMES
    documented = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    for event in EVENT_TYPES:
        generic = re.fullmatch(rf"({'|'.join(ENTITY_NAMES)})_(added|ended|reactivated|changed)",
                               event)
        names = [f"`{event}`"] + ([f"`<entity>_{generic[2]}`", f"`_{generic[2]}`"]
                                  if generic else [])
        assert any(name in documented for name in names), event


def _commands(group=None, prefix: str = "") -> dict:  # type: ignore[no-untyped-def]
    """Every command by its path ("db upgrade"); typer's own click objects."""
    out = {}
    for name, command in (group or get_command(app)).commands.items():
        if hasattr(command, "commands"):
            out |= _commands(command, f"{prefix}{name} ")
        else:
            out[f"{prefix}{name}"] = command
    return out


SHARED = {"--help", "--config", "--log-level", "--log-format"}  # documented once, under the block


def _readme_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## CLI", 1)[1].split("```sh", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_has_an_example_and_the_readme_its_options(name: str) -> None:
    command = _commands()[name]
    assert re.match(rf"Example: etl (-c \S+ )?{name}\b", command.epilog or ""), name
    options = {opt for p in command.params if p.param_type_name == "option"
               for opt in p.opts if opt.startswith("--")} - SHARED
    block = re.sub(r"\n\s+(?=\[)", " ", _readme_block())  # continuation lines join
    lines = [line for line in block.splitlines()
             if re.match(rf"etl {re.escape(name)}(\s|$)", line)]
    assert lines, f"etl {name} is not in the README's CLI block"
    documented = set(re.findall(r"--[a-z][a-z-]*", " ".join(line.split("#")[0] for line in lines)))
    assert documented == options, f"etl {name}: README {sorted(documented)} != {sorted(options)}"


def test_the_app_offers_shell_completion_and_shared_options() -> None:
    out = etl("--help").output
    for option in ("--install-completion", "--config", "--log-level", "--version"):
        assert option in out


def test_a_slower_transaction_cannot_commit_an_event_id_below_the_cursor(pg_engine) -> None:
    """PostgreSQL hands out ids at insert: without the outbox lock, a transaction that took id N
    and commits after one that took N+1 would slip behind a consumer's cursor."""
    import threading
    from datetime import UTC, datetime

    import pandas as pd

    from etl.store.ledger import RunRecord
    from etl.store.writes import append_events

    now = datetime.now(UTC)
    events = pd.DataFrame({"entity": ["person"], "entity_key": ["1"], "event": ["moved_in"]})

    def append(conn, run_id: str) -> None:  # type: ignore[no-untyped-def]
        append_events(conn, events, RunRecord(run_id, "s", "c", now, None, None, None), now)

    second_done = threading.Event()

    def second() -> None:
        with pg_engine.begin() as conn:
            append(conn, "second")
        second_done.set()

    with pg_engine.begin() as first:
        append(first, "first")
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(1.0)  # it waits for the first to commit
    thread.join(10)
    assert second_done.is_set()
    with pg_engine.connect() as conn:
        order = [r[0] for r in conn.exec_driver_sql(
            "SELECT run_id FROM change_event ORDER BY id").all()]
    assert order == ["first", "second"]
