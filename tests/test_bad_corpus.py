"""Every file of the bad-input corpus is rejected with exactly the rule, line and column expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.pipeline import check_export
from tests.conftest import SAMPLES, mapping, rules_at

BAD = SAMPLES / "bad"
R = "(ausgeblendet)"

# file (relative to sample_exports/bad) -> {(rule, line, column)}
EXPECTED: dict[str, set[tuple[str, int | None, str | None]]] = {
    "wodis-style/empty.csv": {("file.empty", None, None)},
    "wodis-style/excel_workbook_named_csv.csv": {("file.binary", None, None)},
    "wodis-style/header_only.csv": {("file.no_data", 4, None)},
    "wodis-style/wrong_delimiter.csv": {("header.not_found", None, None)},
    "wodis-style/missing_column.csv": {("header.missing_column", 1, "Vertragsbeginn")},
    "wodis-style/duplicate_column.csv": {("header.duplicate_column", 4, "E-Mail")},
    "wodis-style/mojibake.csv": {
        ("encoding.mojibake", 6, "Vorname"),
        ("encoding.mojibake", 6, "Nachname"),
    },
    "wodis-style/lossy_excel_save.csv": {
        ("encoding.lossy", 7, "Straße Hausnr"),
        # the same building has another street on the other rows: honest, and said once
        ("key.unique", 7, "WE + Haus"),
    },
    "wodis-style/excel_scientific_keys.csv": {("key.excel_scientific", 12, "Vertrag")},
    "wodis-style/lost_leading_zeros.csv": {("key.leading_zeros", 18, "WE")},
    "wodis-style/impossible_date.csv": {("date.format", 7, "Vertragsbeginn")},
    "wodis-style/iso_date_in_german_export.csv": {("date.format", 14, "Vertragsbeginn")},
    "wodis-style/end_before_start.csv": {("date.order", 19, "Vertragsende")},
    "wodis-style/unknown_usage_type.csv": {("value.unknown", 21, "Nutzungsart")},
    "wodis-style/unknown_role.csv": {("value.unknown", 13, "Rolle")},
    "wodis-style/unquoted_delimiter.csv": {("row.field_count", 20, None)},
    "wodis-style/unclosed_quote.csv": {("row.unclosed_quote", 25, None)},
    "wodis-style/postal_code_lost_zero.csv": {
        ("postal_code.format", 5, "PLZ Ort"),
        ("key.unique", 6, "WE + Haus"),
    },
    "wodis-style/invalid_email.csv": {("email.format", 12, "E-Mail")},
    "wodis-style/conflicting_unit_data.csv": {("key.unique", 13, "WE + Haus + ME")},
    "wodis-style/missing_last_name.csv": {("name.missing", 10, "Nachname")},
    "wodis-style/decimal_comma_lost.csv": {
        ("living_area.range", 5, "Wohnfläche"),
        ("key.unique", 6, "WE + Haus + ME"),
    },
    "wodis-style/rooms_not_a_number.csv": {("number.format", 15, "Zimmer")},
    "alpen-style/postal_code_padded_to_five.csv": {
        ("postal_code.format", 2, "PLZ"), ("postal_code.format", 6, "PLZ")},
    "alpen-style/country_as_a_name.csv": {
        ("country.unknown", 2, "Land"), ("country.unknown", 6, "Land")},
    "alpen-style/tenant_without_name_or_firm.csv": {("name.missing", 11, "Mieter2 Name")},
    "altsystem-style/all_clients_exported.csv": {
        *(("client.foreign", line, "Mandant") for line in range(14, 19)),
        ("encoding.lossy", 2, "Name"), ("encoding.lossy", 3, "Name"),
        ("encoding.lossy", 3, "Vorname"), ("encoding.lossy", 4, "Name"),
        ("encoding.lossy", 8, "Name")},
    "altsystem-style/row_of_another_client.csv": {
        ("client.foreign", 6, "Mandant"), ("encoding.lossy", 2, "Name"), ("encoding.lossy", 3, "Name"),
        ("encoding.lossy", 3, "Vorname"), ("encoding.lossy", 4, "Name"),
        ("encoding.lossy", 8, "Name")},
    "generic/saved_as_ansi.csv": {("encoding.undecodable", 2, "objekt_name")},
    "sap-style/missing_partner_file": {("file.missing", None, None)},
    "sap-style/contract_without_rental_object": {
        ("ref.unit", 9, "Buchungskreis + Wirtschaftseinheit + Mietobjekt"),
    },
}


def _corpus() -> list[str]:
    files = [p for p in BAD.glob("*/*") if p.suffix == ".csv" or p.is_dir()]
    return sorted(str(p.relative_to(BAD)) for p in files)


def test_every_corpus_file_has_an_expectation() -> None:
    assert _corpus() == sorted(EXPECTED)
    assert len(EXPECTED) >= 15


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_file_is_rejected_with_exact_rule_line_and_column(case: str) -> None:
    path = BAD / case
    paths = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    spec = mapping(case.split("/", maxsplit=1)[0])
    # a legacy source imports Mandant 100 and 200, and checks 100's rows here
    result = check_export(paths, spec, clients=["100", "200"] if spec.client_column else (),
                          only=["100"] if spec.client_column else ())
    assert not result.ok
    assert rules_at(result) == EXPECTED[case]
    assert result.findings["message_de"].str.len().gt(0).all()
    assert result.findings["message_en"].str.len().gt(0).all()


def test_personal_values_are_masked_in_findings() -> None:
    result = check_export([BAD / "wodis-style/mojibake.csv"], mapping("wodis-style"))
    assert set(result.findings["value"]) == {R}
    result = check_export([BAD / "wodis-style/invalid_email.csv"], mapping("wodis-style"))
    assert set(result.findings["value"]) == {R}


def test_non_personal_values_are_shown() -> None:
    result = check_export([BAD / "wodis-style/excel_scientific_keys.csv"], mapping("wodis-style"))
    assert result.findings["value"].tolist() == ["1,20100501E+09"]


def test_corpus_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    import importlib.util
    import shutil

    for sub in ("wodis-style", "generic", "sap-style", "alpen-style",
                "altsystem-style"):
        shutil.copytree(SAMPLES / sub, tmp_path / sub)
    shutil.copytree(BAD, tmp_path / "bad")
    for f in (tmp_path / "bad").rglob("*.csv"):
        f.unlink()
    spec = importlib.util.spec_from_file_location("make_bad", tmp_path / "bad" / "make_bad.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    for f in BAD.rglob("*.csv"):
        assert (tmp_path / "bad" / f.relative_to(BAD)).read_bytes() == f.read_bytes(), f
