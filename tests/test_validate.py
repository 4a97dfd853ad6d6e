"""Validation rules of schemas/: formats, plausibility, uniqueness, referential integrity."""

from __future__ import annotations

import pytest

from tests.conftest import MINI_HEADER, MINI_ROW, rules_at


def _row(**changes: str) -> str:
    row = MINI_ROW
    for old, new in changes.items():
        row = row.replace(old.replace("_", " ") if " " in old else old, new)
    return row


def _second(row: str) -> str:
    return row.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")


@pytest.mark.parametrize(
    ("old", "new", "rule", "column"),
    [
        ("01067", "1067", "postal_code.format", "PLZ"),
        ("01067", "D-01067", "postal_code.format", "PLZ"),
        ("anna@example.de", "anna@example", "email.format", "E-Mail"),
        ("anna@example.de", "anna@@example.de", "email.format", "E-Mail"),
        ("anna@example.de", '"anna@example.de; kaputt"', "email.format", "E-Mail"),
        (";60,5;", ";-3;", "living_area.range", "Fläche"),
        (";60,5;", ";60.5.1;", "number.format", "Fläche"),
        ("01.01.2020;;", "01.01.2020;31.12.2019;", "date.order", "Ende"),
        ("01.01.2020;", "01.01.1850;", "date.range", "Beginn"),
        ("01.01.2020;", "31.02.2020;", "date.format", "Beginn"),
        (";Groß;", ";;", "name.missing", "Nachname"),
        (";Hauptstraße;", ";;", "required", "Straße"),
        (";HM;", ";XY;", "value.unknown", "Rolle"),
    ],
)
def test_bad_value_is_reported_at_its_cell(check, old, new, rule, column) -> None:
    assert old in MINI_ROW
    result = check(f"{MINI_HEADER}\n{MINI_ROW.replace(old, new, 1)}\n")
    assert rules_at(result) == {(rule, 2, column)}


def test_all_failures_are_collected_in_one_pass(check) -> None:
    rows = [
        MINI_ROW.replace("01067", "1067"),
        _second(MINI_ROW).replace("anna@example.de", "x@y").replace(";60,5;", ";-1;"),
        _second(_second(MINI_ROW)).replace(";01;", ";03;").replace("V2", "V3").replace(
            "P2", "P3").replace(";Groß;", ";;"),
    ]
    result = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    assert {
        ("postal_code.format", 2, "PLZ"),
        ("email.format", 3, "E-Mail"),
        ("living_area.range", 3, "Fläche"),
        ("name.missing", 4, "Nachname"),
    } <= rules_at(result)


def test_same_key_with_different_values_is_a_duplicate(check) -> None:
    rows = [MINI_ROW, MINI_ROW.replace(";Groß;", ";Klein;").replace(";MM;", ";HM;")]
    rows[1] = rows[1].replace(";01;", ";02;").replace("V1", "V2")  # same person P1
    result = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    assert rules_at(result) == {("key.unique", 3, "Person")}


def test_identical_rows_of_a_flat_export_are_not_duplicates(check) -> None:
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n{MINI_ROW}\n")
    assert rules_at(result) == {("key.unique", 3, "Vertrag")} - {("key.unique", 3, "Vertrag")}
    assert result.entities.counts()["membership"] == 1


def test_person_twice_on_one_contract_is_a_duplicate_membership(check) -> None:
    rows = [MINI_ROW, MINI_ROW.replace(";HM;", ";MM;")]
    result = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    assert rules_at(result) == {("key.unique", 3, "Vertrag")}


def test_half_rooms_are_fine_but_thirds_are_not(tmp_path) -> None:
    from etl.pipeline import check_export
    from tests.conftest import SAMPLES, mapping

    data = (SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv").read_bytes()
    path = tmp_path / "x.csv"
    path.write_bytes(data.replace(b";4,5;", b";4,3;"))
    assert rules_at(check_export([path], mapping("wodis-style"))) == {("rooms.range", 15, "Zimmer")}


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("RE_MV_20261101.csv|;00000100;00000001;00010001;|;00000100;00000001;00019999;",
         "ref.unit"),
        ("RE_VP_20261101.csv|;0000104712;|;0000109999;", "ref.person"),
        ("RE_VP_20261101.csv|1000;0000000470001;0000104712|1000;0000000479999;0000104712",
         "ref.tenancy"),
        ("RE_MO_20261101.csv|1000;00000100;00000001;00010001;|1000;00000100;00000009;00010001;",
         "ref.building"),
        ("RE_WE_20261101.csv|1000;00000200;|1000;00000300;", "ref.property"),
    ],
)
def test_references_across_files_must_exist(tmp_path, case: str, rule: str) -> None:
    from etl.pipeline import check_export
    from tests.conftest import SAMPLES, mapping

    name, old, new = case.split("|")
    for f in (SAMPLES / "sap-style").glob("*.csv"):
        data = f.read_bytes()
        if f.name == name:
            assert old.encode() in data
            data = data.replace(old.encode(), new.encode(), 1)
        (tmp_path / f.name).write_bytes(data)
    result = check_export(sorted(tmp_path.glob("*.csv")), mapping("sap-style"))
    assert {r for r, _, _ in rules_at(result)} == {rule}


def test_file_whose_every_row_is_ragged_reports_each_row(check) -> None:
    rows = [MINI_ROW + ";x", _second(MINI_ROW) + ";y"]
    result = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    assert rules_at(result) == {("row.field_count", 2, None), ("row.field_count", 3, None)}


@pytest.mark.parametrize(
    ("phone", "ok"),
    [("0351 4711234", True), ("+49 351 7654321", True), ("0351/47 11-234", True),
     ("(0351) 4711234", True), ("030 3123456", True), ("keine", False), ("12", False),
     ("0351 4711234 oder 0171 2345678 bitte abends", False)],
)
def test_phone_numbers(tmp_path, phone: str, ok: bool) -> None:
    from etl.pipeline import check_export
    from tests.conftest import SAMPLES, mapping

    data = (SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv").read_bytes()
    path = tmp_path / "x.csv"
    path.write_bytes(data.replace(b";0351 2223344;", f";{phone};".encode("cp1252")))
    expected = set() if ok else {("phone.format", 12, "Telefon")}
    assert rules_at(check_export([path], mapping("wodis-style"))) == expected
