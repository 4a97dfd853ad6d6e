"""The two dialects onboarded for exports this project had never seen, end to end: first and next
export through the CLI on a real database, every change event against a hand-written list.

- ``alpen-style``: a Swiss/Austrian wide unit list (Latin-1, tenants 1..4 side by side, 4-digit
  postal codes, numeric country codes, company tenants, condominium owners' rows to leave out,
  the export's time in a column).
- ``altsystem-style``: a legacy flat list in Windows-1252 (names it cannot hold arrive with
  '?': imported as warnings) with a ``Mandant`` column holding two housing companies, imported
  from one drop into two portal clients (rows of a third never imported).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from etl.cli import app
from etl.pipeline import check_export
from tests.conftest import SAMPLES, mapping, write_config

cli = CliRunner()
ALPEN = SAMPLES / "alpen-style"
LEGACY = SAMPLES / "altsystem-style"


def _etl(*args: str) -> tuple[int, list[dict]]:
    result = cli.invoke(app, list(args))
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, lines


def _changes(cfg: str, client: str) -> set[tuple]:
    """Every event of ``client`` but the first import's, as (event, key, fields, from, to)."""
    code, events = _etl("events", "--client", client, "--json", "-c", cfg)
    assert code == 0
    return {(e["event"], e["entity_key"], e["fields"], e["from_unit"], e["to_unit"])
            for e in events if e["event"] != "initial_import"}


def test_alpen_style_maps_countries_companies_and_leaves_owners_out() -> None:
    result = check_export([ALPEN / "objektliste_2026-11-01.csv"], mapping("alpen-style"))
    assert result.ok, result.findings.to_string()
    assert result.export_time == pd.Timestamp("2026-11-01 05:30", tz="UTC")
    e = result.entities.frames
    assert result.entities.counts() == {"property": 3, "building": 4, "unit": 11, "tenancy": 8,
                                        "person": 12, "membership": 14}
    building = e["building"].set_index("building_id")
    assert building[["postal_code", "country"]].to_dict("index") == {
        "0101.1": {"postal_code": "8032", "country": "CH"},
        "0101.2": {"postal_code": "8032", "country": "CH"},
        "0202.1": {"postal_code": "1020", "country": "AT"},
        "0303.1": {"postal_code": "9490", "country": "LI"}}
    unit = e["unit"].set_index("unit_id")
    assert unit.loc["0101.1.EHP01", "usage_type"] == "parking"  # by a value map's pattern
    assert unit.loc["0101.1.002", "rooms"] == 4.5
    # owners' rows bring their unit, but no contract and no person
    assert {"0101.1.003", "0303.1.002"} <= set(unit.index)
    assert not {"E-9001", "E-9101"} & set(e["tenancy"]["tenancy_id"])
    assert not {"M-901", "M-911"} & set(e["person"]["person_id"])
    person = e["person"].set_index("person_id")
    assert pd.isna(person.loc["M-601", "last_name"])
    assert person.loc["M-601", "company_name"] == "Bäckerei Käser AG"
    assert person.loc["M-506", "email_secondary"] == "n.favre@example.com"
    roles = e["membership"].set_index(["tenancy_id", "person_id"])["role"]
    assert roles[("V-1002", "M-503")] == "main_tenant"
    assert roles[("V-1002", "M-506")] == "co_tenant"  # the fourth tenant of one contract


def test_alpen_style_first_and_next_export_end_to_end(tmp_path: Path, database_url: str) -> None:
    cfg = str(write_config(tmp_path, database_url, {"sonnenberg": {
        "client": "wg-sonnenberg", "mapping": "alpen-style",
        "guard": {"max_ended_share": 0.2}}}))
    assert _etl("db", "upgrade", "-c", cfg)[0] == 0
    code, out = _etl("import", str(ALPEN / "objektliste_2026-11-01.csv"), "-s", "sonnenberg",
                     "--json", "-c", cfg)
    assert code == 0 and out[-1]["status"] == "applied"
    code, out = _etl("import", str(ALPEN / "objektliste_2026-12-01.csv"), "-s", "sonnenberg",
                     "--json", "-c", cfg)
    assert code == 0 and out[-1]["status"] == "applied"
    assert _changes(cfg, "wg-sonnenberg") == {
        # Luca Rossi leaves the shared flat for the vacant one in house 2
        ("tenancy_added", "V-1102", None, None, None),
        ("moved", "M-504", None, "0101.1.002", "0101.2.002"),
        # Vienna: Hämmerli's announced end, Wallner's new contract on the same flat
        ("tenancy_ended", "V-2002", None, None, None),
        ("tenancy_added", "V-2004", None, None, None),
        ("person_ended", "M-703", None, None, None),
        ("person_added", "M-704", None, None, None),
        ("moved_out", "M-703", None, "0202.1.002", None),
        ("moved_in", "M-704", None, None, "0202.1.002"),
        # the bakery's new firm name, a co-tenant's new phone
        ("name_changed", "M-601", "company_name", None, None),
        ("contact_changed", "M-502", "phone", None, None),
        # the condominium owner who sold 0101.1.003 is not the portal's: no event
    }
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        firms = conn.execute(sa.text("SELECT person_id, last_name, company_name FROM person "
                                     "WHERE client = 'wg-sonnenberg' AND company_name IS NOT NULL"
                                     " ORDER BY person_id")).all()
        countries = dict(conn.execute(sa.text("SELECT building_id, country FROM building")).all())
    engine.dispose()
    assert [tuple(r) for r in firms] == [("M-601", None, "Bäckerei Käser & Söhne AG"),
                                         ("M-801", None, "Praxis Dr. Frick AG")]
    assert countries == {"0101.1": "CH", "0101.2": "CH", "0202.1": "AT", "0303.1": "LI"}


def test_altsystem_style_feeds_two_portal_clients_from_one_drop(tmp_path: Path,
                                                                database_url: str) -> None:
    """``clients: {"100": wg-nord, "200": wg-sued}``: one export of a legacy ERP that keeps two
    housing companies (numbering their objects alike), two portal clients — each with its own
    rows, snapshot, guard, events and runs; a row of a third code belongs to neither."""
    nov, dec = LEGACY / "BESTAND_20261101.csv", LEGACY / "BESTAND_20261201.csv"
    cfg = str(write_config(tmp_path, database_url, {"alt": {
        "client": "wg-nord", "mapping": "altsystem-style",
        "clients": {"100": "wg-nord", "200": "wg-sued"}, "guard": {"max_ended_share": 0.5}}}))
    assert _etl("db", "upgrade", "-c", cfg)[0] == 0
    code, out = _etl("import", str(nov), "-s", "alt", "--json", "-c", cfg)
    assert code == 0 and out[-1]["status"] == "applied", out
    assert out[-1]["warning_findings"] == 5  # Y?lmaz (twice, and Ay?e), Pawe? D?browski
    code, out = _etl("import", str(dec), "-s", "alt", "--json", "-c", cfg)
    assert code == 0 and out[-1]["status"] == "applied", out
    assert _changes(cfg, "wg-nord") == {
        # Lars Jensen's contract is gone; ?ule ?ahin moves into the empty flat next door
        ("tenancy_ended", "10-4740", None, None, None),
        ("person_ended", "004740", None, None, None),
        ("moved_out", "004740", None, "010-5-001", None),
        ("tenancy_added", "10-4750", None, None, None),
        ("person_added", "004750", None, None, None),
        ("moved_in", "004750", None, None, "010-5-002"),
        # Ingrid Petersen announced her end and has a new phone
        ("tenancy_ending", "10-4730", "end_date", None, None),
        ("contact_changed", "004730", "phone", None, None),
        # the lossy names are the same in both exports: no name_changed
    }
    assert _changes(cfg, "wg-sued") == {("tenancy_ending", "20-903", "end_date", None, None)}
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        people = dict(conn.execute(sa.text(
            "SELECT client, count(*) FROM person WHERE active GROUP BY client")).all())
        snapshots = dict(conn.execute(sa.text("SELECT source, client FROM etl_snapshot")).all())
        runs = conn.execute(sa.text("SELECT client, status FROM etl_run ORDER BY started_at")
                            ).all()
        warned = dict(conn.execute(sa.text("SELECT client, warnings FROM etl_run")).all())
    engine.dispose()
    assert people == {"wg-nord": 5, "wg-sued": 5}
    # each run counts its own rows' warnings: the lossy names are Mandant 100's
    assert json.loads(warned["wg-nord"]) == {"encoding.lossy": 5} and warned["wg-sued"] is None
    assert snapshots == {"alt:wg-nord": "wg-nord", "alt:wg-sued": "wg-sued"}
    assert [tuple(r) for r in runs] == [("wg-nord", "applied"), ("wg-sued", "applied")] * 2
    code, out = _etl("import", str(dec), "-s", "alt", "--json", "-c", cfg)  # again
    assert code == 0 and out[-1]["status"] == "duplicate"
    planned = cli.invoke(app, ["plan", str(dec), "-s", "alt", "--out", str(tmp_path / "p.json"),
                               "-c", cfg])
    assert planned.exit_code == 3 and "feeds several clients" in planned.output
    # a third company's rows: never imported; with five of them the export is rejected
    code, out = _etl("import", str(SAMPLES / "bad" / "altsystem-style" /
                                   "all_clients_exported.csv"), "-s", "alt", "--json", "-c", cfg)
    assert code == 4 and out[-1]["status"] == "rejected"
    assert out[-1]["by_rule"]["client.foreign"] == 5
    # the job lost Mandant 200: that client's guard refuses, Mandant 100's import stands
    gone = tmp_path / "BESTAND_20261202.csv"
    gone.write_bytes(b"".join(line + b"\r\n" for line in dec.read_bytes().split(b"\r\n")
                              if line and not line.startswith(b"200;")))
    code, out = _etl("import", str(gone), "-s", "alt", "--json", "-c", cfg)
    assert code == 4 and out[-1]["status"] == "refused"
    assert _changes(cfg, "wg-sued") == {("tenancy_ending", "20-903", "end_date", None, None)}
    # retention and erasure reach every client the source feeds
    code, _ = _etl("import", str(gone), "-s", "alt", "--force", "--reason", "Mandant 200 "
                   "verkauft", "-c", cfg)
    assert code == 0
    assert cli.invoke(app, ["erase", "--client", "wg-sued", "--person", "009010",
                            "-c", cfg]).exit_code == 0
    cfg_purge = write_config(tmp_path, database_url, {"alt": {
        "client": "wg-nord", "mapping": "altsystem-style",
        "clients": {"100": "wg-nord", "200": "wg-sued"}}},
        retention={"ended_person_days": 0})
    assert cli.invoke(app, ["purge", "-c", str(cfg_purge)]).exit_code == 0
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        erased = dict(conn.execute(sa.text(
            "SELECT client, count(*) FROM person WHERE erased_at IS NOT NULL "
            "GROUP BY client")).all())
        kiel = conn.execute(sa.text("SELECT count(*) FROM person WHERE person_id LIKE '0093%'")
                            ).scalar()
    engine.dispose()
    assert erased == {"wg-nord": 1, "wg-sued": 5}
    assert kiel == 0  # the third company's tenants never reached either portal
