"""Moves on small inline exports: parking kept while changing flats, unstable person keys."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from etl.core.config import SourceConfig
from etl.core.mapping_load import parse_mapping
from etl.pipeline import import_export
from etl.store import Database
from tests.conftest import MINI_HEADER, MINI_YAML
from tests.test_load import events_of

ANNA_FLAT = "0001;1;Hauptstraße;01067;Dresden;01;Wohnung;EG;60,5;V1;01.01.2020;;P1;HM;Anna;Groß;anna@example.de"
BEN_FLAT = "0001;1;Hauptstraße;01067;Dresden;02;Wohnung;1. OG;70;V2;01.01.2021;;P2;HM;Ben;Klein;ben@example.de"
ANNA_PARKING = "0001;1;Hauptstraße;01067;Dresden;S1;Stellplatz;TG 1;;V3;01.01.2020;;P1;HM;Anna;Groß;anna@example.de"
VACANT_03 = "0001;1;Hauptstraße;01067;Dresden;03;Wohnung;2. OG;80;;;;;;;;"
SOURCE = SourceConfig(client="c1", mapping="mini")


def _spec(stable: bool = True):
    data = yaml.safe_load(MINI_YAML)
    data["stable_person_keys"] = stable
    return parse_mapping(data, "mini")


def _export(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([MINI_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_tenant_who_keeps_the_parking_space_while_changing_flats_has_moved(engine, tmp_path):
    spec = _spec()
    first = _export(tmp_path, "a_2026-11-01.csv", ANNA_FLAT, BEN_FLAT, ANNA_PARKING, VACANT_03)
    assert import_export([first], "s", SOURCE, spec, Database(engine)).status == "applied"
    moved = ANNA_FLAT.replace(";01;Wohnung;EG;60,5;V1;01.01.2020;", ";03;Wohnung;2. OG;80;V4;01.12.2026;")
    second = _export(tmp_path, "a_2026-12-01.csv", BEN_FLAT, ANNA_PARKING, moved,
                     "0001;1;Hauptstraße;01067;Dresden;01;Wohnung;EG;60,5;;;;;;;;")
    result = import_export([second], "s", SOURCE, spec, Database(engine),
                           override_reason="small sample")
    assert events_of(engine, result.run_id) == Counter([
        ("moved", "P1", None, "0001/1/01", "0001/1/03"),
        ("tenancy_added", "V4", None, None, None),
        ("tenancy_ended", "V1", None, None, None),
    ])


def test_without_stable_person_keys_a_likely_move_is_only_possible(engine, tmp_path):
    spec = _spec(stable=False)
    first = _export(tmp_path, "a_2026-11-01.csv", ANNA_FLAT, BEN_FLAT, VACANT_03)
    import_export([first], "s", SOURCE, spec, Database(engine))
    renumbered = ANNA_FLAT.replace(";01;Wohnung;EG;60,5;V1;01.01.2020;;P1;", ";03;Wohnung;2. OG;80;V4;01.12.2026;;P9;")
    second = _export(tmp_path, "a_2026-12-01.csv", BEN_FLAT, renumbered,
                     "0001;1;Hauptstraße;01067;Dresden;01;Wohnung;EG;60,5;;;;;;;;")
    result = import_export([second], "s", SOURCE, spec, Database(engine),
                           override_reason="small sample")
    events = events_of(engine, result.run_id)
    assert events == Counter([
        ("possible_move", "P9", None, "0001/1/01", "0001/1/03"),
        ("person_added", "P9", None, None, None),
        ("person_ended", "P1", None, None, None),
        ("tenancy_added", "V4", None, None, None),
        ("tenancy_ended", "V1", None, None, None),
    ])
    import sqlalchemy as sa

    from etl.store import schema as db

    with engine.connect() as conn:
        related = conn.execute(sa.select(db.events.c.related_key).where(
            db.events.c.event == "possible_move")).scalar_one()
    assert related == "P1"
