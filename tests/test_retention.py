"""Personal data has an end: retention of drop files, staging copies, ended persons' personal
fields and change events (`etl purge`, and the end of every pass), and erasure on request
(`etl erase`) — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from etl.cli import app
from etl.core.config import load_config
from etl.core.errors import ConfigError
from etl.daemon import build
from etl.runner import Runner
from etl.store import Database
from tests.conftest import MAPPINGS, SAMPLES, dump, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "excel_scientific_keys.csv"
PERSONAL = ["title", "first_name", "last_name", "email", "email_secondary", "phone", "mobile"]
RELAXED = {"max_ended_share": 1, "max_shrink": 1}
KEEP_ALL: dict = {}
KEEP_NOTHING = {"archive_days": 0, "error_days": 0, "staging_days": 0, "ended_person_days": 0,
                "events_days": 0}


class Clock:
    """A clock that moves a second per reading (runs, ends and purges are apart in time); it
    starts a few minutes ago, so that a command run now finds what the runs wrote due."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC) - timedelta(minutes=5)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    """The shipped mappings plus a wodis-style variant without stable person keys, whose
    stored state holds names, emails and phones (for possible moves)."""
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    spec = yaml.safe_load((MAPPINGS / "wodis-style.yaml").read_text(encoding="utf-8"))
    spec.update(name="wodis-unstable", stable_person_keys=False)
    (folder / "wodis-unstable.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                                encoding="utf-8")
    return folder


def source(root: Path, name: str, client: str, retention: dict, mapping: str = "wodis-unstable"
           ) -> dict:
    return {name: {"client": client, "mapping": mapping, "guard": RELAXED,
                   "retention": retention,
                   "drop": {"path": str(root / "drops" / name), "settle_seconds": 0}}}


def make_runner(root: Path, database_url: str, engine, mappings: Path, sources: dict,
                clock: Clock, **top: object) -> Runner:
    for name in sources:
        (root / "drops" / name / "inbox").mkdir(parents=True, exist_ok=True)
    cfg = load_config(write_config(root, database_url, sources, mappings_dir=str(mappings), **top))
    return Runner(cfg, Database(engine), clock=clock)


def drop_in(runner: Runner, name: str, *exports: Path, as_name: str | None = None) -> None:
    inbox = Path(runner.cfg.sources[name].drop.path) / "inbox"
    for export in exports:
        shutil.copy(export, inbox / (as_name or export.name))


def persons(engine, client: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM person WHERE client = :c ORDER BY person_id"),
                           conn, params={"c": client})


def values_of(frame: pd.DataFrame) -> set[str]:
    return {v for c in PERSONAL for v in frame[c].dropna() if len(str(v)) >= 3}


def everything_stored(engine) -> str:
    """Every value of every table, the stored client state decoded, as one text."""
    parts = []
    with engine.connect() as conn:
        for table, rows in dump(engine, records=True).items():
            if table == "etl_state":
                for blob in conn.execute(sa.text("SELECT data FROM etl_state")).scalars():
                    parts.append(pa.ipc.open_stream(blob).read_all().to_pandas().to_csv())
            else:
                parts.append(repr(rows))
    return "\n".join(parts)


def file_bytes(*folders: Path) -> bytes:
    return b"\n".join(p.read_bytes() for folder in folders if folder.exists()
                      for p in folder.rglob("*") if p.is_file())


def test_a_purge_at_zero_leaves_no_trace_of_those_who_moved_out(
        tmp_path, database_url, engine, mappings) -> None:
    clock = Clock()
    importing = make_runner(tmp_path, database_url, engine, mappings,
                            source(tmp_path, "lindenhof", "wg-lindenhof", KEEP_ALL), clock)
    drop_in(importing, "lindenhof", NOV)
    drop_in(importing, "lindenhof", BAD, as_name="mieterliste_2026-11-15.csv")  # -> error/
    drop_in(importing, "lindenhof", DEC)
    assert [o.status for o in importing.run("lindenhof").outcomes] == [
        "applied", "rejected", "applied"]
    before = persons(engine, "wg-lindenhof")
    active, ended = before[before["active"].astype(bool)], before[~before["active"].astype(bool)]
    assert len(ended) >= 1  # a resident moved out in December
    gone = values_of(ended) - values_of(active)
    assert gone and all(v in everything_stored(engine) for v in gone)
    keys = {t: {tuple(r[:3]) for r in rows} for t, rows in dump(engine).items()
            if t in ("property", "building", "unit", "tenancy", "person", "membership")}

    purging = make_runner(tmp_path, database_url, engine, mappings,
                          source(tmp_path, "lindenhof", "wg-lindenhof", {}),
                          Clock(datetime.now(UTC) + timedelta(hours=1)), retention=KEEP_NOTHING)
    done = purging.purge("lindenhof")
    assert done.error is None and done.purged is not None
    assert done.purged.persons_erased == len(ended)
    assert done.purged.archived_files == 2 and done.purged.rejected_files == 1  # + reports

    stored = everything_stored(engine)
    assert [v for v in gone if v in stored] == []
    drop, work = tmp_path / "drops" / "lindenhof", tmp_path / "var"
    found = file_bytes(drop, work)
    assert [v for v in gone if v.encode() in found or v.encode("cp1252") in found] == []
    if database_url.startswith("sqlite"):  # not even in the file's free pages or its log
        raw = file_bytes(*[p for p in tmp_path.glob("portal.db*")])
        assert [v for v in gone if v.encode() in raw] == []

    after = persons(engine, "wg-lindenhof")
    still = after[after["active"].astype(bool)]
    assert still.drop(columns="erased_at").equals(active.drop(columns="erased_at"))  # intact
    assert still["erased_at"].isna().all()
    assert after.loc[~after["active"].astype(bool), PERSONAL].isna().all().all()
    assert after.loc[~after["active"].astype(bool), "erased_at"].notna().all()
    assert {t: {tuple(r[:3]) for r in rows} for t, rows in dump(engine).items()
            if t in keys} == keys  # every key is still there
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT entity_key, event, fields FROM change_event")).all()
        status = conn.execute(sa.text("SELECT status, summary FROM etl_run ORDER BY started_at "
                                      "DESC")).first()
    assert sorted(events) == sorted((k, "person_erased", None) for k in ended["person_id"])
    assert status[0] == "purged" and f'"persons_erased": {len(ended)}' in status[1]


def test_the_next_import_after_a_purge_emits_what_it_would_have_without(
        tmp_path, database_url, engine, mappings) -> None:
    """Two clients import the same exports; one erases at once, the other keeps everything.
    In January the residents who moved out in December come back (the November list again):
    both get the same events, and the erased are imported as usual from the master."""
    clock = Clock()
    keep_but_events = {**KEEP_NOTHING, "events_days": None}
    sources = {**source(tmp_path, "erasing", "wg-a", keep_but_events),
               **source(tmp_path, "keeping", "wg-b", KEEP_ALL)}
    runner = make_runner(tmp_path, database_url, engine, mappings, sources, clock)
    jan = tmp_path / "mieterliste_2027-01-01.csv"
    jan.write_bytes(NOV.read_bytes().replace(b"Stichtag: 01.11.2026", b"Stichtag: 01.01.2027"))
    for export in (NOV, DEC):
        for name in sources:
            drop_in(runner, name, export)
            assert [o.status for o in runner.run(name).outcomes] == ["applied"]
    erased = persons(engine, "wg-a")
    assert erased["erased_at"].notna().sum() >= 1
    for name in sources:
        drop_in(runner, name, jan)
        assert [o.status for o in runner.run(name).outcomes] == ["applied"]

    def january(client: str) -> Counter:
        with engine.connect() as conn:
            run = conn.execute(sa.text(
                "SELECT run_id FROM etl_run WHERE client = :c AND status = 'applied' "
                "ORDER BY started_at DESC"), {"c": client}).scalars().first()
            return Counter(conn.execute(sa.text(
                "SELECT entity, entity_key, event, fields, from_unit, to_unit, from_tenancy, "
                "to_tenancy, related_key FROM change_event WHERE run_id = :r"), {"r": run}).all())

    assert january("wg-a") == january("wg-b") and sum(january("wg-a").values()) > 0
    columns = ["person_id", "salutation", *PERSONAL]
    a, b = (persons(engine, c).query("active == 1")[columns].reset_index(drop=True)
            for c in ("wg-a", "wg-b"))
    assert a.equals(b)  # the erased who came back are imported from the master as usual
    came_back = persons(engine, "wg-a").set_index("person_id").loc[
        erased.loc[erased["erased_at"].notna(), "person_id"]]
    assert came_back["active"].astype(bool).all() and came_back["erased_at"].isna().all()
    assert came_back["last_name"].notna().all()


def test_every_pass_purges_what_is_due_at_its_end(tmp_path, database_url, engine,
                                                  mappings) -> None:
    clock = Clock()
    runner = make_runner(tmp_path, database_url, engine, mappings, source(
        tmp_path, "lindenhof", "wg-lindenhof", {"archive_days": 0, "ended_person_days": 0}),
        clock)
    drop_in(runner, "lindenhof", NOV, DEC)
    done = runner.run("lindenhof")
    assert [o.status for o in done.outcomes] == ["applied", "applied"]
    assert done.purged is not None and done.purged.archived_files == 2
    assert done.purged.persons_erased >= 1 and done.purged.events_deleted == 0
    assert not list((tmp_path / "drops" / "lindenhof" / "archive").rglob("*.csv"))


def test_archive_and_error_folders_keep_what_is_younger_than_its_limit(
        tmp_path, database_url, engine, mappings) -> None:
    clock = Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    runner = make_runner(tmp_path, database_url, engine, mappings, source(
        tmp_path, "lindenhof", "wg-lindenhof", {"archive_days": 30, "error_days": 30}), clock)
    drop = tmp_path / "drops" / "lindenhof"
    old, young = drop / "archive/2027/01/15", drop / "archive/2027/02/20"
    for folder in (old, young, drop / "archive/notes", drop / "error"):
        folder.mkdir(parents=True)
    for folder in (old, young, drop / "archive/notes"):
        (folder / "mieterliste.csv").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.csv").write_text("not ours")
    (old / "link").symlink_to(outside, target_is_directory=True)  # never followed
    stale, fresh = clock.now - timedelta(days=40), clock.now - timedelta(days=3)
    for name, when in (("a.csv", stale), ("a.fehler.txt", stale), ("b.csv", stale),
                       ("b.fehler.csv", fresh), ("c.csv", fresh)):
        (drop / "error" / name).write_text("x")
        os.utime(drop / "error" / name, (when.timestamp(), when.timestamp()))
    dry = runner.purge("lindenhof", dry_run=True)
    assert dry.purged is not None and (dry.purged.archived_files, dry.purged.rejected_files) == (
        1, 1)  # a.csv with its report
    assert (old / "mieterliste.csv").exists()
    done = runner.purge("lindenhof")
    assert done.purged is not None
    assert (done.purged.archived_files, done.purged.rejected_files) == (1, 1)
    assert not (drop / "error" / "a.fehler.txt").exists()
    assert not (old / "mieterliste.csv").exists() and (young / "mieterliste.csv").exists()
    assert (drop / "archive/notes/mieterliste.csv").exists()
    assert (outside / "keep.csv").exists()
    assert sorted(p.name for p in (drop / "error").iterdir()) == ["b.csv", "b.fehler.csv",
                                                                  "c.csv"]


def test_staging_copies_left_by_a_run_that_died_are_purged(tmp_path, database_url, engine,
                                                          mappings) -> None:
    clock = Clock()
    runner = make_runner(tmp_path, database_url, engine, mappings, source(
        tmp_path, "lindenhof", "wg-lindenhof", {"staging_days": 0}), clock)
    left = tmp_path / "var" / "staging" / "lindenhof" / "tmpx"
    left.mkdir(parents=True)
    (left / "mieterliste_2026-11-01.csv").write_bytes(NOV.read_bytes())
    an_hour_ago = (clock.now - timedelta(hours=1)).timestamp()
    os.utime(left / "mieterliste_2026-11-01.csv", (an_hour_ago, an_hour_ago))
    done = runner.purge("lindenhof")
    assert done.purged is not None and done.purged.staging_files == 1
    assert not left.exists()


def test_erasure_on_request(tmp_path, database_url, engine, mappings) -> None:
    clock = Clock()
    runner = make_runner(tmp_path, database_url, engine, mappings,
                         source(tmp_path, "lindenhof", "wg-lindenhof", KEEP_ALL), clock)
    drop_in(runner, "lindenhof", NOV, DEC)
    runner.run("lindenhof")
    rows = persons(engine, "wg-lindenhof")
    active = rows.loc[rows["active"].astype(bool), "person_id"].iloc[0]
    ended = rows.loc[~rows["active"].astype(bool), "person_id"].iloc[0]
    config = str(tmp_path / "config.yaml")
    cli = CliRunner()

    before = dump(engine)
    refused = cli.invoke(app, ["erase", "--client", "wg-lindenhof", "--person", active,
                               "-c", config])
    assert refused.exit_code == 4 and "the ERP is the master" in refused.output
    assert "erase (or end) the person in the ERP first" in refused.output
    assert dump(engine) == before
    unknown = cli.invoke(app, ["erase", "--client", "wg-lindenhof", "--person", "nobody",
                               "-c", config])
    assert unknown.exit_code == 4 and "no person 'nobody'" in unknown.output

    erased = cli.invoke(app, ["erase", "--client", "wg-lindenhof", "--person", ended,
                              "-c", config])
    assert erased.exit_code == 0 and "personal fields erased" in erased.output
    row = persons(engine, "wg-lindenhof").set_index("person_id").loc[ended]
    assert row[PERSONAL].isna().all() and row["erased_at"] is not None
    again = cli.invoke(app, ["erase", "--client", "wg-lindenhof", "--person", ended,
                             "-c", config])
    assert again.exit_code == 0 and "erased before" in again.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM change_event WHERE event = "
                                    "'person_erased'")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM etl_run WHERE status = 'erased'")
                            ).scalar_one() == 1


def test_the_dry_run_counts_and_changes_nothing(tmp_path, database_url, engine,
                                                mappings) -> None:
    clock = Clock()
    runner = make_runner(tmp_path, database_url, engine, mappings,
                         source(tmp_path, "lindenhof", "wg-lindenhof", KEEP_ALL), clock)
    drop_in(runner, "lindenhof", NOV, DEC)
    runner.run("lindenhof")
    config = tmp_path / "config.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["retention"] = KEEP_NOTHING
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    before, files = dump(engine), sorted(tmp_path.joinpath("drops").rglob("*"))
    names = values_of(persons(engine, "wg-lindenhof"))
    result = CliRunner().invoke(app, ["purge", "--dry-run", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "lindenhof: would purge 2 archived file(s)" in result.output
    assert "person(s) erased" in result.output and "change event(s)" in result.output
    assert not [v for v in names if v in result.output]
    assert dump(engine) == before and sorted(tmp_path.joinpath("drops").rglob("*")) == files


def test_retention_defaults_overrides_and_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "mappings_dir": str(MAPPINGS),
        "retention": {"archive_days": 90, "events_days": 365},
        "sources": {"a": {"client": "a", "mapping": "wodis-style",
                          "retention": {"archive_days": 7, "events_days": None}},
                    "b": {"client": "b", "mapping": "wodis-style"}}}), encoding="utf-8")
    cfg = load_config(config)
    assert (cfg.retention_of("a").archive_days, cfg.retention_of("a").events_days) == (7, None)
    assert (cfg.retention_of("b").archive_days, cfg.retention_of("b").events_days) == (90, 365)
    assert "ended_person_days" in cfg.retention_of("b").forever()
    config.write_text(yaml.safe_dump({"retention": {"archive_days": -1, "events": 3},
                                      "scheduler": {"purge": "0 3 * *"}}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    problems = "\n".join(info.value.problems)
    assert "retention.archive_days" in problems and "retention.events" in problems
    assert "scheduler.purge" in problems


def test_the_daemon_purges_every_source_once_a_day(tmp_path, database_url, engine,
                                                   mappings) -> None:
    sources = source(tmp_path, "lindenhof", "wg-lindenhof", KEEP_ALL)
    sources["lindenhof"]["schedule"] = "*/15 * * * *"
    runner = make_runner(tmp_path, database_url, engine, mappings, sources, Clock(),
                         scheduler={"purge": "45 2 * * *"})
    job = build(runner).get_job("purge")
    assert job is not None and str(job.trigger.fields[5]) == "2"  # hour
    assert str(job.trigger.fields[6]) == "45"  # minute
