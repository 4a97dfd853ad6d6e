"""The good samples of every dialect validate and map to exactly the expected entities."""

from __future__ import annotations

import pandas as pd
import pytest

from etl.pipeline import check_export
from tests.conftest import SAMPLES, mapping


def _check(dialect: str, folder: str):
    """The November export of a dialect (one file, or the files of a multi-file export)."""
    result = check_export(sorted((SAMPLES / folder).glob("*2026*11*01*.csv")), mapping(dialect))
    assert result.ok, result.findings.to_string()
    assert result.entities is not None
    return result.entities


@pytest.mark.parametrize(
    ("dialect", "folder", "counts"),
    [
        ("wodis-style", "wodis-style",
         {"property": 3, "building": 4, "unit": 15, "tenancy": 14, "person": 15, "membership": 17}),
        ("sap-style", "sap-style",
         {"property": 2, "building": 4, "unit": 11, "tenancy": 9, "person": 10, "membership": 13}),
        ("generic", "generic",
         {"property": 2, "building": 3, "unit": 8, "tenancy": 6, "person": 8, "membership": 9}),
    ],
)
def test_good_sample_validates_with_expected_counts(dialect, folder, counts) -> None:
    assert _check(dialect, folder).counts() == counts


def test_flat_export_deduplicates_and_keeps_leading_zeros_and_source_lines() -> None:
    e = _check("wodis-style", "wodis-style").frames
    unit = e["unit"].set_index("unit_id")
    assert unit.loc["0012/01/003", "position"] == "1. OG links"
    assert unit.loc["0012/02/001", "position"] == "DG; Maisonette über 2 Ebenen"
    assert unit.loc["0012/02/001", "rooms"] == 4.5
    assert unit.loc["0012/01/001", "living_area"] == 72.5
    assert unit.loc["0012/02/901", "usage_type"] == "parking"
    assert unit.loc["0034/01/050", "usage_type"] == "storage"
    assert unit.loc["0034/01/001", "usage_type"] == "commercial"
    assert unit.loc["0012/01/004", "usage_type"] == "living"  # vacant: no tenancy
    assert "0012/01/004" not in set(e["tenancy"]["unit_id"])
    building = e["building"].set_index("building_id")
    assert building.loc["0034/01", ["street", "house_number", "postal_code", "city"]].tolist() == [
        "Straße des 17. Juni", "112", "10623", "Berlin"]
    assert building.loc["0012/01", "house_number"] == "12a"
    assert building.loc["0051/01", "house_number"] == "3-5"
    assert building.loc["0012/01", "postal_code"] == "01099"
    tenancy = e["tenancy"].set_index("tenancy_id")
    # a tenant change on one unit is two tenancies
    assert tenancy.loc["00120100301", "end_date"] == pd.Timestamp("2026-10-31")
    assert tenancy.loc["00120100302", "start_date"] == pd.Timestamp("2026-11-01")
    assert pd.isna(tenancy.loc["00120100201", "end_date"])  # 00.00.0000 = open end
    # physical lines survive quoted newlines in a column the mapping drops (Bemerkung)
    assert tenancy.loc["00120100302", "_line"] == 10
    assert e["person"].set_index("person_id").loc["005102", "_line"] == 24
    person = e["person"].set_index("person_id")
    assert person.loc["004750", "email"] == "familie.becker@example.de"
    assert person.loc["004750", "email_secondary"] == "t.becker@example.org"
    assert person.loc["004720", "first_name"] == "Özlem"
    assert person.loc["004760", "title"] == "Prof. Dr."
    roles = e["membership"].set_index(["tenancy_id", "person_id"])["role"]
    assert roles[("00120100501", "004741")] == "household_member"
    assert roles[("00120100101", "004712")] == "co_tenant"


def test_data_minimisation_drops_unmapped_columns() -> None:
    e = _check("wodis-style", "wodis-style").frames
    text = "".join(frame.to_csv() for frame in e.values())
    for secret in ("DE89370400440532013000", "645,30", "12.03.1961", "Schlüssel"):
        assert secret not in text


def test_multi_file_export_composes_technical_keys() -> None:
    e = _check("sap-style", "sap-style").frames
    assert set(e["property"]["property_id"]) == {"1000/00000100", "1000/00000200"}
    unit = e["unit"].set_index("unit_id")
    assert unit.loc["1000/00000100/00010003", "position"] == "1. OG links; Balkon"
    assert unit.loc["1000/00000200/00020001", "position"] == 'Hochparterre "Gartenseite"'
    assert unit.loc["1000/00000200/00010002", "rooms"] == 2.5
    tenancy = e["tenancy"].set_index("tenancy_id")
    assert pd.isna(tenancy.loc["1000/0000000470002", "end_date"])  # 99991231
    assert tenancy.loc["1000/0000000470003", "end_date"] == pd.Timestamp("2026-11-30")
    person = e["person"].set_index("person_id")
    assert person.loc["0000104740", "salutation"] == "Firma"
    assert person.loc["0000104740", "email_secondary"] == "buchhaltung@blumen-froehlich.example"
    assert person.loc["0000104730", "first_name"] == "Ömer"


def test_repeated_tenant_columns_become_persons_and_memberships() -> None:
    e = _check("generic", "generic").frames
    members = e["membership"].set_index(["tenancy_id", "person_id"])["role"]
    assert members[("MV-2023-0002", "P-10020")] == "main_tenant"
    assert members[("MV-2023-0002", "P-10021")] == "co_tenant"
    assert members[("MV-2023-0002", "P-10022")] == "co_tenant"
    person = e["person"].set_index("person_id")
    assert person.loc["P-10022", "_group"] == 3
    assert person.loc["P-10002", "first_name"] == "Małgorzata"
    assert person.loc["P-10002", "email_secondary"] == "m.kueppers@example.com"
    # the same tenant on a flat and a parking space is one person
    assert (e["person"]["person_id"] == "P-10001").sum() == 1
    assert e["unit"].set_index("unit_id").loc["W1-A-0001", "living_area"] == 81.2


def test_december_sample_validates() -> None:
    result = check_export([SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"],
                          mapping("wodis-style"))
    assert result.ok
    assert result.entities.counts() == {"property": 3, "building": 4, "unit": 16, "tenancy": 14,
                                        "person": 16, "membership": 18}
