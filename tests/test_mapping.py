"""Mapping: a new ERP dialect is one YAML file; every mapping feature on small inline exports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from etl.core.errors import ConfigError
from etl.core.mapping_load import load_mapping, parse_mapping
from etl.pipeline import check_export
from tests.conftest import MINI_HEADER, MINI_ROW, MINI_YAML, mini_mapping, rules_at

# A made-up ERP: tab-separated, pipe-free, ISO-8859-15, YYYYMMDD and DD.MM.YYYY dates, a combined
# "PLZ Ort", building and unit numbers without leading zeros that the portal pads, tenants 1..2
# side by side, salutation codes, a summary line, keys joined with '.'.
ONBOARD_YAML = r"""
name: hausverwalter-pro
title: HausVerwalter Pro (made up)
dialect:
  encoding: iso8859_15
  delimiter: "\t"
  decimal: ","
  date_formats: ["%Y%m%d", "%d.%m.%Y"]
  open_end: ["00000000", "31.12.9999"]
  footer: "^Summe"
key_separator: "."
value_maps:
  art: {values: {W: living, G: commercial, P: parking}, default: other}
  anrede: {values: {"1": Herr, "2": Frau}}
files:
  liste:
    pattern: "hvp_*.txt"
    columns:
      obj: {header: Objekt}
      geb: {header: Gebäude, pad: 3}
      adr: {header: Anschrift}
      plzort: {header: PLZ Ort, split: '^(?P<plz>\d{5}) (?P<ort>.+)$'}
      whg: {header: Whg, pad: 4}
      art: {header: Art, map: art}
      qm: {header: qm}
      vnr: {header: VertragNr}
      von: {header: von}
      bis: {header: bis}
      "nr{n}": {header: "Mieter{n}", repeat: [1, 2]}
      "anr{n}": {header: "Anrede{n}", repeat: [1, 2], map: anrede}
      "name{n}": {header: "Name{n}", repeat: [1, 2]}
      "mail{n}": {header: "Mail{n}", repeat: [1, 2], list: '\s*,\s*'}
entities:
  property: {from: liste, fields: {property_id: obj}}
  building:
    from: liste
    fields: {building_id: {join: [obj, geb]}, property_id: obj, street: adr,
             house_number: {const: "1"}, postal_code: plz, city: ort}
  unit:
    from: liste
    fields: {unit_id: {join: [obj, geb, whg]}, building_id: {join: [obj, geb]},
             property_id: obj, unit_number: whg, usage_type: art, living_area: qm}
  tenancy:
    from: liste
    where: vnr
    fields: {tenancy_id: vnr, unit_id: {join: [obj, geb, whg]}, start_date: von, end_date: bis}
  person:
    from: liste
    repeat: [1, 2]
    where: "nr{n}"
    fields: {person_id: "nr{n}", salutation: "anr{n}", last_name: "name{n}",
             email: "mail{n}", email_secondary: "mail{n}_more"}
  membership:
    from: liste
    repeat: [1, 2]
    where: "nr{n}"
    fields: {tenancy_id: vnr, person_id: "nr{n}", role: {per_group: [main_tenant, co_tenant]}}
"""

ONBOARD_EXPORT = "\r\n".join([
    "Objekt\tGebäude\tAnschrift\tPLZ Ort\tWhg\tArt\tqm\tVertragNr\tvon\tbis\tMieter1\tAnrede1"
    "\tName1\tMail1\tMieter2\tAnrede2\tName2\tMail2\tKontonummer",
    "A7\t1\tSchloßallee\t80331 München\t12\tW\t61,5\tV-100\t20200101\t00000000\t900\t1\tÖztürk"
    "\toe@example.de, oe2@example.de\t901\t2\tEßer\t\t123456789",
    "A7\t1\tSchloßallee\t80331 München\t13\tX\t\t\t\t\t\t\t\t\t\t\t\t\t",
    "A7\t2\tSchloßallee\t80331 München\t1\tP\t\tV-101\t01.03.2021\t31.12.9999\t900\t1\tÖztürk"
    "\toe@example.de, oe2@example.de\t\t\t\t\t",
    "Summe\t3 Einheiten",
    "",
])


def test_new_erp_is_onboarded_with_one_yaml_file_and_no_python(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "hausverwalter-pro.yaml").write_text(ONBOARD_YAML, encoding="utf-8")
    export = tmp_path / "hvp_2026-11-01.txt"
    export.write_bytes(ONBOARD_EXPORT.encode("iso8859_15"))

    result = check_export([export], load_mapping("hausverwalter-pro", mappings))

    assert result.ok, result.findings.to_string()
    e = result.entities.frames
    assert e["unit"]["unit_id"].tolist() == ["A7.001.0012", "A7.001.0013", "A7.002.0001"]
    assert e["unit"]["usage_type"].tolist() == ["living", "other", "parking"]
    assert e["unit"]["living_area"].iloc[0] == 61.5
    assert e["building"][["postal_code", "city"]].iloc[0].tolist() == ["80331", "München"]
    tenancy = e["tenancy"].set_index("tenancy_id")
    assert tenancy.loc["V-100", "start_date"] == pd.Timestamp("2020-01-01")
    assert tenancy.loc["V-101", "start_date"] == pd.Timestamp("2021-03-01")
    assert tenancy["end_date"].isna().all()
    person = e["person"].set_index("person_id")
    assert person.loc["900", ["salutation", "last_name", "email", "email_secondary"]].tolist() == [
        "Herr", "Öztürk", "oe@example.de", "oe2@example.de"]
    assert person.loc["901", "last_name"] == "Eßer"
    roles = e["membership"].set_index(["tenancy_id", "person_id"])["role"].to_dict()
    assert roles == {("V-100", "900"): "main_tenant", ("V-100", "901"): "co_tenant",
                     ("V-101", "900"): "main_tenant"}
    assert "123456789" not in "".join(f.to_csv() for f in e.values())


def test_mapping_problems_are_all_reported_at_once() -> None:
    data = yaml.safe_load(MINI_YAML)
    data["entities"]["unit"]["fields"]["floor_area"] = "flaeche"
    data["entities"]["tenancy"]["fields"]["start_date"] = "anfang"
    data["files"]["rows"]["columns"]["art"]["map"] = "nutzung"
    del data["entities"]["membership"]
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "broken.yaml")
    text = str(info.value)
    assert len(info.value.problems) == 4, text
    for needle in ("floor_area", "anfang", "nutzung", "membership"):
        assert needle in text


def test_mapping_structure_errors_name_the_path() -> None:
    data = yaml.safe_load(MINI_YAML)
    data["dialect"]["delimiter"] = ";;"
    data["dialect"]["encoding"] = "klingon"
    data["files"]["rows"]["columns"]["we"]["colour"] = "blue"
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "broken.yaml")
    assert len(info.value.problems) == 3
    assert any("dialect.delimiter" in p for p in info.value.problems)


def test_value_map_outputs_must_be_canonical() -> None:
    data = yaml.safe_load(MINI_YAML)
    data["value_maps"]["usage"]["values"]["Wohnung"] = "wohnen"
    with pytest.raises(ConfigError, match="'wohnen' is not one of"):
        parse_mapping(data, "broken.yaml")


def test_unknown_mapping_name_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n")
    with pytest.raises(ConfigError, match=r"known: a"):
        load_mapping("zzz", tmp_path)


@pytest.mark.parametrize(
    ("formats", "value", "expected"),
    [
        (["%d.%m.%Y"], "01.04.2015", "2015-04-01"),
        (["%Y-%m-%d"], "2015-04-01", "2015-04-01"),
        (["%Y%m%d"], "20150401", "2015-04-01"),
        (["%Y-%m-%d", "%d.%m.%Y"], "01.04.2015", "2015-04-01"),
    ],
)
def test_date_formats(check, formats, value, expected) -> None:
    row = MINI_ROW.replace("01.01.2020", value)
    result = check(f"{MINI_HEADER}\n{row}\n", mini_mapping(date_formats=formats))
    assert result.ok, result.findings
    assert result.entities.frames["tenancy"]["start_date"].iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("marker", ["", "00.00.0000", "31.12.9999"])
def test_open_end_markers_mean_no_end(check, marker: str) -> None:
    row = MINI_ROW.replace("01.01.2020;;", f"01.01.2020;{marker};")
    result = check(f"{MINI_HEADER}\n{row}\n",
                   mini_mapping(open_end=["00.00.0000", "31.12.9999"]))
    assert result.ok
    assert pd.isna(result.entities.frames["tenancy"]["end_date"].iloc[0])


def test_key_width_and_scientific_notation_are_not_silently_fixed(check) -> None:
    rows = [MINI_ROW.replace("0001;", "1;", 1),
            MINI_ROW.replace("0001;", "1,23E+11;", 1).replace("V1", "V2").replace("P1", "P2")]
    result = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    assert {("key.leading_zeros", 2, "WE"), ("key.excel_scientific", 3, "WE")} <= rules_at(result)


def test_unknown_code_without_default_is_an_error(check) -> None:
    row = MINI_ROW.replace(";Wohnung;", ";Hobbyraum;")
    result = check(f"{MINI_HEADER}\n{row}\n")
    assert rules_at(result) == {("value.unknown", 2, "Art")}
    assert "Wohnung, Stellplatz" in result.findings["message_de"].iloc[0]


def test_value_maps_ignore_case_and_blanks(check) -> None:
    row = MINI_ROW.replace(";Wohnung;", "; wohnung ;").replace(";HM;", ";hm;")
    result = check(f"{MINI_HEADER}\n{row}\n")
    assert result.ok
    assert result.entities.frames["unit"]["usage_type"].iloc[0] == "living"


def test_split_that_does_not_match_is_an_error(tmp_path: Path) -> None:
    data = yaml.safe_load(textwrap.dedent(ONBOARD_YAML))
    spec = parse_mapping(data, "x")
    export = tmp_path / "hvp_x.txt"
    export.write_bytes(ONBOARD_EXPORT.replace("80331 München", "München", 1).encode("latin-1"))
    result = check_export([export], spec)
    assert ("split.format", 2, "PLZ Ort") in rules_at(result)


def test_coalesce_takes_the_first_field_that_is_not_empty(check) -> None:
    """A company tenant has no surname, only a firm (here in the first-name column): `coalesce`
    takes the surname where there is one and the firm where not; both stay masked in reports."""
    data = yaml.safe_load(MINI_YAML)
    data["entities"]["person"]["fields"]["last_name"] = {"coalesce": ["nachname", "vorname"]}
    spec = parse_mapping(data, "mini")
    person = MINI_ROW
    firm = (MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")
            .replace(";Anna;Groß;", ";Bäckerei Groß GmbH;;"))
    result = check(f"{MINI_HEADER}\n{person}\n{firm}\n", spec)
    assert result.ok, result.findings
    names = result.entities.frames["person"].set_index("person_id")["last_name"]
    assert names.to_dict() == {"P1": "Groß", "P2": "Bäckerei Groß GmbH"}
    neither = firm.replace("Bäckerei Groß GmbH", "")
    result = check(f"{MINI_HEADER}\n{neither}\n", spec)
    assert rules_at(result) == {("name.missing", 2, "Nachname / Vorname")}


def test_coalesce_needs_two_known_fields() -> None:
    data = yaml.safe_load(MINI_YAML)
    data["entities"]["person"]["fields"]["last_name"] = {"coalesce": ["nachname", "firma"]}
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert "unknown source field 'firma'" in "\n".join(info.value.problems)
    data["entities"]["person"]["fields"]["last_name"] = {"coalesce": ["nachname"]}
    with pytest.raises(ConfigError):
        parse_mapping(data, "mini")


def test_where_conditions_filter_rows_by_their_values(check) -> None:
    """A condominium owner's row (Lage "Eigentum" here) brings its unit, but no tenancy,
    person or membership: `where` tests values, all conditions must hold."""
    data = yaml.safe_load(MINI_YAML)
    for name in ("tenancy", "person", "membership"):
        spec = data["entities"][name]
        spec["where"] = [spec["where"], {"field": "lage", "not_in": ["Eigentum"]}]
    mapping = parse_mapping(data, "mini")
    owner = (MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")
             .replace("EG links", "Eigentum"))
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n{owner}\n", mapping)
    assert result.ok, result.findings
    frames = result.entities.frames
    assert len(frames["unit"]) == 2
    assert frames["tenancy"]["tenancy_id"].tolist() == ["V1"]
    assert frames["person"]["person_id"].tolist() == ["P1"]


def test_each_kind_of_condition() -> None:
    from etl.core.mapping_format import Condition

    values = pd.Series(["Miete", "Eigentum", "", "Gewerbe 2"])
    holds = {str(c): Condition.model_validate(c).holds(values).tolist() for c in (
        {"field": "x"},
        {"field": "x", "equals": "Miete"},
        {"field": "x", "in": ["Miete", "Gewerbe 2"]},
        {"field": "x", "not_in": ["Eigentum"]},
        {"field": "x", "not_in": ["Eigentum"], "not_empty": True},
        {"field": "x", "matches": "Gewerbe [0-9]+"},
        {"field": "x", "not_empty": False},
    )}
    assert list(holds.values()) == [
        [True, True, False, True], [True, False, False, False], [True, False, False, True],
        [True, False, True, True], [True, False, False, True], [False, False, False, True],
        [True, True, True, True]]


def test_a_where_condition_on_an_unknown_field_or_a_bad_pattern_is_refused() -> None:
    data = yaml.safe_load(MINI_YAML)
    data["entities"]["tenancy"]["where"] = [{"field": "vertragsart", "in": ["Miete"]}]
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert info.value.problems == [
        "entities.tenancy.where: unknown source field 'vertragsart'"]
    data["entities"]["person"]["where"] = {"field": "person", "matches": "(?=P)", "is": "P"}
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "entities.person.where.0.matches", "entities.person.where.0.is"]


def test_value_maps_take_regular_expressions_after_their_codes(check) -> None:
    data = yaml.safe_load(MINI_YAML)
    data["value_maps"]["usage"]["patterns"] = {r"TG-Platz \d+|Carport.*": "parking",
                                               r"Gewerbe.*": "commercial"}
    spec = parse_mapping(data, "mini")
    rows = [MINI_ROW]
    for i, art in enumerate(("tg-platz 12", "Carport Nord", "Gewerbe (Laden)", "Garten"), 2):
        rows.append(MINI_ROW.replace(";01;", f";0{i};").replace("V1", f"V{i}")
                    .replace("P1", f"P{i}").replace("Wohnung", art))
    result = check("\n".join([MINI_HEADER, *rows[:4]]) + "\n", spec)
    assert result.ok, result.findings
    assert result.entities.frames["unit"]["usage_type"].tolist() == [
        "living", "parking", "parking", "commercial"]
    result = check("\n".join([MINI_HEADER, *rows]) + "\n", spec)
    assert rules_at(result) == {("value.unknown", 6, "Art")}
    assert "Wohnung, Stellplatz, TG-Platz \\d+" in result.findings["message_en"].iloc[0]
    data["value_maps"]["usage"]["patterns"] = {"Garten|Keller": "garden"}
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert "'garden' is not one of" in "\n".join(info.value.problems)


def test_value_map_patterns_map_whole_codes(check) -> None:
    data = yaml.safe_load(MINI_YAML)
    data["value_maps"]["usage"]["patterns"] = {"TG": "parking"}
    row = MINI_ROW.replace("Wohnung", "TG-Platz")  # "TG" is only part of the code
    result = check(f"{MINI_HEADER}\n{row}\n", parse_mapping(data, "mini"))
    assert {rule for rule, _, _ in rules_at(result)} == {"value.unknown"}


def test_the_export_time_comes_from_a_title_line_or_a_column(check) -> None:
    from datetime import UTC, datetime

    data = yaml.safe_load(MINI_YAML)
    data["files"]["rows"]["export_time"] = {
        "title": r"Stichtag: (?P<d>\d\d)\.(?P<m>\d\d)\.(?P<y>\d{4})(?: (?P<H>\d\d):(?P<M>\d\d))?"}
    titled = f"Mieterliste\nStichtag: 01.11.2026 06:30\n\n{MINI_HEADER}\n{MINI_ROW}\n"
    result = check(titled, parse_mapping(data, "mini"))
    assert result.ok and result.export_time == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n", parse_mapping(data, "mini"))
    assert result.ok and result.export_time is None  # a warning: the file name's date counts
    assert rules_at(result) == {("export_time.unreadable", None, None)}
    data["files"]["rows"]["export_time"] = {"column": "beginn"}
    second = MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2").replace(
        "01.01.2020", "15.03.2021")
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n{second}\n", parse_mapping(data, "mini"))
    assert result.export_time == datetime(2021, 3, 15, tzinfo=UTC)
    data["files"]["rows"]["export_time"] = {"column": "email"}  # optional, and missing here
    cut = (MINI_HEADER.rsplit(";", 1)[0], MINI_ROW.rsplit(";", 1)[0])
    result = check("\n".join(cut) + "\n", parse_mapping(data, "mini"))
    assert result.ok and result.export_time is None
    assert "column 'email'" in result.findings["message_en"].iloc[0]


def test_an_export_time_setting_is_checked_when_the_mapping_loads() -> None:
    data = yaml.safe_load(MINI_YAML)
    for stamp, problem in (({"title": r"(?P<y>\d{4})"}, "needs the named groups y, m and d"),
                           ({"column": "exportdatum"}, "not a column of the file"),
                           ({}, "give either title or column")):
        data["files"]["rows"]["export_time"] = stamp
        with pytest.raises(ConfigError) as info:
            parse_mapping(data, "mini")
        assert problem in "\n".join(info.value.problems)


def _with_country_column(data: dict) -> dict:
    data["files"]["rows"]["columns"]["land"] = {"header": "Land", "optional": True}
    data["entities"]["building"]["fields"]["country"] = "land"
    return data


def test_country_comes_from_the_mapping_or_the_row_in_any_iso_spelling(check) -> None:
    """A Swiss/Austrian export: the mapping's ``country`` where a row names none; a row's code
    as alpha-2, alpha-3 or numeric (with or without leading zeros) is stored as alpha-2."""
    data = _with_country_column(yaml.safe_load(MINI_YAML))
    data["country"] = "AUT"
    spec = parse_mapping(data, "mini")
    assert spec.country == "AT"
    header = MINI_HEADER + ";Land"
    rows = [MINI_ROW.replace(";01067;", ";1010;").replace(";1;", f";{n};")
            .replace("V1", f"V{n}").replace("P1", f"P{n}") + f";{land}"
            for n, land in ((1, ""), (2, "756"), (3, "040"), (4, "che"), (5, "LI"))]
    result = check("\n".join([header, *rows]) + "\n", spec)
    assert result.ok, result.findings
    buildings = result.entities.frames["building"].set_index("building_id")["country"]
    assert buildings.to_dict() == {"0001/1": "AT", "0001/2": "CH", "0001/3": "AT",
                                   "0001/4": "CH", "0001/5": "LI"}
    assert parse_mapping(yaml.safe_load(MINI_YAML), "mini").country == "DE"


@pytest.mark.parametrize(("land", "plz", "ok"), [
    ("", "01067", True), ("", "1010", False), ("AT", "1010", True), ("AT", "01067", False),
    ("CH", "8001", True), ("LU", "1234", True), ("DK", "12345", False),
    ("NL", "1234 AB", True), ("NL", "1234AB", True), ("NL", "0123 AB", False),
    ("PL", "00-950", True), ("US", "90210-1234", True),
])
def test_postal_codes_follow_the_buildings_country(check, land: str, plz: str, ok: bool) -> None:
    spec = parse_mapping(_with_country_column(yaml.safe_load(MINI_YAML)), "mini")
    row = MINI_ROW.replace(";01067;", f";{plz};") + f";{land}"
    result = check(f"{MINI_HEADER};Land\n{row}\n", spec)
    assert rules_at(result) == (set() if ok else {("postal_code.format", 2, "PLZ")})


def test_an_unknown_country_is_an_error_in_the_row_and_in_the_mapping(check) -> None:
    spec = parse_mapping(_with_country_column(yaml.safe_load(MINI_YAML)), "mini")
    result = check(f"{MINI_HEADER};Land\n{MINI_ROW};Schweiz\n", spec)
    assert rules_at(result) == {("country.unknown", 2, "Land")}
    data = yaml.safe_load(MINI_YAML)
    data["country"] = "XY"
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "mini")
    assert "unknown country 'XY'" in "\n".join(info.value.problems)


def test_a_company_tenant_needs_no_last_name(check) -> None:
    """``company_name`` on a person: a firm without a surname is complete; a row with neither
    is ``name.missing`` at the surname's column."""
    data = yaml.safe_load(MINI_YAML)
    data["files"]["rows"]["columns"]["firma"] = {"header": "Firma", "optional": True}
    data["entities"]["person"]["fields"]["company_name"] = "firma"
    spec = parse_mapping(data, "mini")
    firm = (MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")
            .replace(";Anna;Groß;", ";;;") + ";Bäckerei Groß GmbH")
    nobody = firm.replace("P2", "P3").replace("V2", "V3").replace(";02;", ";03;")[:-18]
    result = check(f"{MINI_HEADER};Firma\n{MINI_ROW};\n{firm}\n{nobody}\n", spec)
    assert rules_at(result) == {("name.missing", 4, "Nachname")}
    result = check(f"{MINI_HEADER};Firma\n{MINI_ROW};\n{firm}\n", spec)
    assert result.ok, result.findings
    people = result.entities.frames["person"].set_index("person_id")
    assert pd.isna(people.loc["P2", "last_name"])
    assert people.loc["P2", "company_name"] == "Bäckerei Groß GmbH"
