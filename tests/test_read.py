"""Reading: encodings, headers, quoting, blank cells, line numbers — small inline CSVs."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.core.errors import MappingError, ReadError
from etl.core.mapping_format import Column, Dialect
from etl.stages.read import read_table
from tests.conftest import MINI_HEADER, MINI_ROW, rules_at

GOOD = f"{MINI_HEADER}\n{MINI_ROW}\n"


def _person(result) -> dict:
    return result.entities.frames["person"].iloc[0].to_dict()


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (GOOD.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + GOOD.encode("utf-8"), "utf-8-sig"),
        (GOOD.encode("cp1252"), "cp1252"),
        (GOOD.encode("utf-16"), "utf-16"),
    ],
)
def test_encoding_is_detected_not_trusted(check, content: bytes, encoding: str) -> None:
    result = check(content)
    assert result.ok
    assert _person(result)["last_name"] == "Groß"
    assert result.entities.frames["building"]["street"].iloc[0] == "Hauptstraße"


def test_reported_encoding() -> None:
    cols = {"we": Column(header="WE"), "ort": Column(header="Ort")}
    for data, expected in (
        ("WE;Ort\n1;Köln\n".encode("cp1252"), "cp1252"),
        ("WE;Ort\n1;Köln\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + b"WE;Ort\n1;K\xc3\xb6ln\n", "utf-8-sig"),
    ):
        table, _ = read_table(data, "f.csv", "r", cols, Dialect())
        assert (table.encoding, table.frame["ort"].tolist()) == (expected, ["Köln"])


def test_headers_match_despite_case_spacing_punctuation_and_bom(check) -> None:
    header = MINI_HEADER.replace("WE;", "\ufeff we ;").replace("E-Mail", "EMAIL").replace(
        "Straße", "STRASSE")
    result = check(f"{header}\n{MINI_ROW}\n")
    assert result.ok, result.findings
    assert _person(result)["email"] == "anna@example.de"


def test_crlf_lf_blank_lines_and_whitespace_cells(check) -> None:
    row2 = MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2").replace(
        "Anna", "\u00a0 Jörg\u00a0").replace("EG links", "   ")
    result = check(f"{MINI_HEADER}\r\n{MINI_ROW}\r\n\r\n{row2}\r\n\r\n")
    assert result.ok, result.findings
    person = result.entities.frames["person"].set_index("person_id")
    assert person.loc["P2", "first_name"] == "Jörg"
    assert person.loc["P2", "_line"] == 4
    unit = result.entities.frames["unit"].set_index("unit_id")
    assert unit["position"].isna().tolist() == [False, True]


def test_quoted_fields_keep_delimiters_quotes_and_newlines(check) -> None:
    row = MINI_ROW.replace("EG links", '"EG; links ""Hof""\nHinterhaus"')
    row2 = MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")
    result = check(f"{MINI_HEADER}\n{row}\n{row2}\n")
    assert result.ok
    units = result.entities.frames["unit"]
    assert units["position"].iloc[0] == 'EG; links "Hof"\nHinterhaus'
    assert units["_line"].tolist() == [2, 4]


def test_title_lines_and_footer_are_skipped() -> None:
    spec = Dialect(footer="^(Summe|Anzahl)")
    cols = {"we": Column(header="WE"), "ort": Column(header="Ort")}
    data = "Bestandsliste\nStichtag 01.11.2026;;\n\nWE;Ort\n1;Köln\n2;Bonn\nAnzahl: 2;\n\n".encode()
    table, found = read_table(data, "f.csv", "r", cols, spec)
    assert table.header_line == 4
    assert table.frame["ort"].tolist() == ["Köln", "Bonn"]
    assert table.frame["_line"].tolist() == [5, 6]
    assert found.empty


def test_trailing_delimiters_on_every_row_are_accepted(check) -> None:
    rows = [MINI_ROW, MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")]
    plain = check(f"{MINI_HEADER}\n" + "\n".join(rows) + "\n")
    trailing = check(f"{MINI_HEADER}\n" + "\n".join(r + ";;" for r in rows) + "\n")
    assert trailing.ok, trailing.findings
    for name, frame in plain.entities.frames.items():
        assert frame.equals(trailing.entities.frames[name]), name


def test_one_row_with_an_extra_empty_field_is_an_error(check) -> None:
    rows = [MINI_ROW, MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")]
    result = check(f"{MINI_HEADER}\n{rows[0]}\n{rows[1]};\n")
    assert rules_at(result) == {("row.field_count", 3, None)}


def test_only_mapped_columns_are_materialised() -> None:
    cols = {"we": Column(header="WE")}
    table, _ = read_table(b"WE;IBAN;Geburtsdatum\n1;DE02;01.01.1970\n", "f.csv", "r", cols,
                          Dialect())
    assert list(table.frame.columns) == ["we", "_line"]


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "file.empty"),
        (b"  \r\n\r\n", "file.empty"),
        (b"\x00\x01\x02binary", "file.binary"),
        (b"%PDF-1.7\n", "file.binary"),
        (b"WE;Ort\n", "file.no_data"),
        (b"Nummer;Stadt\n1;Bonn\n", "header.not_found"),
        (b'WE;Ort\n1;"Bonn\n', "row.unclosed_quote"),
        (b"WE;Ort\n1;K\x81ln\n", "encoding.undecodable"),
    ],
)
def test_unreadable_file_gets_one_clear_error(data: bytes, rule: str) -> None:
    cols = {"we": Column(header="WE"), "ort": Column(header="Ort")}
    with pytest.raises(ReadError) as info:
        read_table(data, "f.csv", "r", cols, Dialect())
    assert info.value.rule == rule
    assert info.value.location.file == "f.csv"
    assert info.value.message_de and info.value.message


def test_undecodable_byte_names_line_and_column() -> None:
    cols = {"we": Column(header="WE"), "ort": Column(header="Ort")}
    with pytest.raises(ReadError) as info:
        read_table(b"WE;Ort\n1;Bonn\n2;K\x81ln\n", "f.csv", "r", cols, Dialect(encoding="cp1252"))
    assert (info.value.location.line, info.value.location.column) == (3, "Ort")


def test_missing_required_column_is_a_mapping_error() -> None:
    cols = {"we": Column(header="WE"), "ort": Column(header="Ort"), "plz": Column(header="PLZ")}
    with pytest.raises(MappingError) as info:
        read_table(b"WE;Ort\n1;Bonn\n", "f.csv", "r", cols, Dialect())
    assert info.value.rule == "header.missing_column"
    assert info.value.location.column == "PLZ"


def test_mojibake_and_lossy_saves_are_flagged(check) -> None:
    bad = MINI_ROW.replace("Groß", "GroÃŸ")
    lossy = MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2").replace(
        "Hauptstraße", "Hauptstra?e")
    result = check(f"{MINI_HEADER}\n{bad}\n{lossy}\n")
    assert {("encoding.mojibake", 2, "Nachname"), ("encoding.lossy", 3, "Straße")} <= rules_at(
        result)


def test_clean_files_take_the_fast_path(monkeypatch) -> None:
    """The row-by-row reader is only for ragged files; a clean export must never need it."""
    from etl.stages.read import table

    def fail(*args, **kwargs):
        raise AssertionError("exact path used for a clean file")

    monkeypatch.setattr(table, "parse_exact", fail)
    from etl.pipeline import check_export, group_exports
    from tests.conftest import SAMPLES, mapping

    for dialect in ("wodis-style", "sap-style", "generic"):
        for export in group_exports(sorted((SAMPLES / dialect).glob("*.csv")), mapping(dialect)):
            assert check_export(export, mapping(dialect)).ok


def test_the_field_count_hint_says_whether_a_row_has_more_or_fewer_fields(check) -> None:
    second = MINI_ROW.replace(";01;", ";02;").replace("V1", "V2").replace("P1", "P2")
    third = MINI_ROW.replace(";01;", ";03;").replace("V1", "V3").replace("P1", "P3")
    result = check(f"{MINI_HEADER}\n{MINI_ROW}\n{second};x\n{third.rsplit(';', 2)[0]}\n")
    found = result.findings.set_index("line")
    assert found.loc[3, "value"] == "18" and found.loc[4, "value"] == "15"
    assert "more fields than the header's 17" in found.loc[3, "message_en"]
    assert "unquoted delimiter" in found.loc[3, "message_en"]
    assert "weniger Felder als die Kopfzeile (17" in found.loc[4, "message_de"]
    assert "cut-off line" in found.loc[4, "message_en"]


@settings(max_examples=300)
@given(data=st.binary(max_size=40), at=st.integers(0, 1 << 22))
def test_the_utf8_letter_search_finds_what_the_regular_expression_finds(data: bytes,
                                                                        at: int) -> None:
    """The numpy search for a UTF-8 letter in a file that is not UTF-8 (encoding.mixed) is the
    regular expression it replaced, also across its 4 MB chunks."""
    import re

    from etl.stages.read.encoding import _utf8_letter

    letter = re.compile(rb"[\xc3\xc4\xc5][\x80-\xbf]")
    for text in (data, b"a" * at + data):
        found = letter.search(text)
        assert _utf8_letter(text) == (found.start() if found else -1)


@settings(max_examples=200)
@given(data=st.binary(max_size=40), at=st.integers(0, 1 << 22))
def test_control_characters_are_found_in_any_chunk(data: bytes, at: int) -> None:
    """has_control: any byte 0–8, 11, 12, 14–31 or 127; tab, line feed and carriage return
    are text."""
    import re

    from etl.stages.read.encoding import has_control

    control = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    for text in (data, b"a" * at + data):
        assert has_control(text) == (control.search(text) is not None)
