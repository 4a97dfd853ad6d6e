"""The hostile input corpus: exports broken (or merely odd) in every way we could think of, each
with the rules it must be reported by and the exit code of `etl validate` — never a traceback;
and a fuzz test: any bytes give entities or findings, never an unhandled exception."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etl.cli import app
from etl.core.rules import RULES
from etl.pipeline import check_export
from tests.conftest import MINI_HEADER, MINI_ROW, MINI_YAML, mini_mapping

H, R = MINI_HEADER, MINI_ROW


def row(n: int, **swap: str) -> str:
    """Resident n of unit n (each with its own contract and person); ``swap``: old=new."""
    text = R.replace(";01;Wohnung", f";{n:02};Wohnung").replace("V1", f"V{n}").replace(
        ";P1;", f";P{n};")
    for old, new in swap.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def csv(*rows: str, header: str = H, end: str = "\n", encoding: str = "utf-8") -> bytes:
    return (end.join([header, *rows]) + end).encode(encoding)


def change(field: str, value: str, n: int = 1) -> bytes:
    """One resident whose ``field`` (as in MINI_ROW) holds ``value``."""
    return csv(row(n, **{field: value}))


VALID: set[str] = set()
random.seed(7)
CASES: list[tuple[str, bytes, set[str]]] = [
    # --- the file as a whole: exactly one finding -----------------------------------------
    ("empty", b"", {"file.empty"}),
    ("blanks only", b" \r\n\t\n", {"file.empty"}),
    ("a BOM and nothing", b"\xef\xbb\xbf", {"file.empty"}),
    ("an Excel workbook", b"PK\x03\x04" + b"\x00" * 100, {"file.binary"}),
    ("an old Excel file", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, {"file.binary"}),
    ("a PDF", b"%PDF-1.4\n%...", {"file.binary"}),
    ("a NUL early on", csv(R) + b"\x00", {"file.binary"}),
    ("UTF-32 without the right text", b"\xff\xfe\x00\x00" + b"\x00\xd8\x00\x00", {"file.binary"}),
    ("random high bytes", bytes(random.randrange(128, 256) for _ in range(4000)),
     {"encoding.undecodable"}),
    ("XML", b'<?xml version="1.0"?>\n<export><row/></export>\n', {"header.not_found"}),
    ("JSON", b'[{"WE": "0001", "Haus": "1"}]\n', {"header.not_found"}),
    ("HTML", b"<html><body><table><tr><td>WE</td></tr></table></body></html>\n",
     {"header.not_found"}),
    ("title lines only", b"Mieterliste\nStichtag 01.11.2026\n", {"header.not_found"}),
    ("commas instead of semicolons", csv(R.replace(";", ","), header=H.replace(";", ",")),
     {"header.not_found"}),
    ("tabs instead of semicolons", csv(R.replace(";", "\t"), header=H.replace(";", "\t")),
     {"header.not_found"}),
    ("a header and no data", (H + "\n").encode(), {"file.no_data"}),
    ("a header and blank lines", (H + "\n\n\n").encode(), {"file.no_data"}),
    ("a required column missing", csv(R.replace(";Dresden", ""),
                                      header=H.replace(";Ort", "")), {"header.missing_column"}),
    ("a column twice", csv(R + ";x", header=H + ";Ort"), {"header.duplicate_column"}),
    ("a quote never closed", csv(row(1), row(2, **{";EG links;": ';"EG links;'})),
     {"row.unclosed_quote"}),
    ("a value the csv module refuses", csv(row(1), row(2) + ";x", row(3, **{
        "EG links": "x" * 200_000})), {"row.unreadable"}),
    ("lines of two encodings", csv(row(1)) + row(2, **{"Hauptstraße": "Hauptstraße"}).encode(
        "cp1252") + b"\n", {"encoding.mixed"}),
    ("a byte cp1252 does not know", csv(row(1, Dresden="Dres\x81den"), encoding="latin-1"),
     {"encoding.undecodable"}),
    # --- text that is read as it was meant ------------------------------------------------
    ("UTF-16 with BOM", csv(R, encoding="utf-16"), VALID),
    ("UTF-16 big endian with BOM", b"\xfe\xff" + csv(R, encoding="utf-16-be"), VALID),
    ("UTF-32 with BOM", csv(R, encoding="utf-32"), VALID),
    ("UTF-8 with BOM", b"\xef\xbb\xbf" + csv(R), VALID),
    ("cp1252", csv(R, encoding="cp1252"), VALID),
    ("old Mac line ends (CR)", csv(row(1), row(2), end="\r"), VALID),
    ("Windows line ends (CRLF)", csv(row(1), row(2), end="\r\n"), VALID),
    ("mixed line ends", csv(row(1)) + (row(2) + "\r\n").encode(), VALID),
    ("no line end at the end", csv(row(1)).rstrip(b"\n"), VALID),
    ("blank lines between rows", csv(row(1), "", "", row(2)), VALID),
    ("a stray quote in a free text", csv(row(1, **{"EG links": 'Monitor 24" defekt'}), row(2)),
     VALID),
    ("quoted delimiters and line breaks", csv(row(1, **{"EG links": '"EG; links\nhinten"'})),
     VALID),
    ("doubled quotes", csv(row(1, **{"EG links": '"Lage ""EG"""'})), VALID),
    ("trailing delimiters on every row", csv(row(1) + ";", row(2) + ";"), VALID),
    ("non-breaking spaces around values", csv(row(1, **{";Dresden;": ";\u00a0Dresden\u00a0;"})),
     VALID),
    ("the header in other case and spacing", csv(R, header=H.replace("Straße", " STRASSE ")
                                                  .replace("E-Mail", "e mail")), VALID),
    ("columns the mapping does not know", csv(R + ";geheim;DE0000", header=H + ";IBAN;Konto"),
     VALID),
    ("title lines above the header", b"Mieterliste\nStand 01.11.2026\n\n" + csv(R), VALID),
    ("a tenant in a flat and on a parking space", csv(
        row(1), row(2, Wohnung="Stellplatz", **{";P2;": ";P1;"})), VALID),
    ("a formula in a free text", csv(row(1, **{"EG links": "=HYPERLINK(\"x\")"})), VALID),
    ("keys with leading blanks", csv(row(1, **{";V1;": "; V1 ;"})), VALID),
    ("several emails in one cell", csv(row(1, **{"anna@example.de": "a@x.de, b@y.de"})),
     VALID),
    # --- cells: every finding names file, line and column ---------------------------------
    *[(f"invisible {name} in a key", change(";P1;", f";P1{ch};"), {"key.invisible"})
      for name, ch in [("zero-width space", "\u200b"), ("ZWNJ", "\u200c"), ("ZWJ", "\u200d"),
                       ("LRM", "\u200e"), ("RLM", "\u200f"), ("BOM", "\ufeff"),
                       ("word joiner", "\u2060"), ("RLO", "\u202e"), ("soft hyphen", "\u00ad"),
                       ("Mongolian vowel separator", "\u180e")]],
    *[(f"control character {code!r} in a text", change("EG links", f"EG{code}links"),
       {"value.control_character"})
      for code in ["\x01", "\x07", "\x08", "\x0b", "\x1b", "\x7f"]],
    ("a NUL far into the file", csv(*[row(n) for n in range(1, 700)],
                                    row(700, **{"EG links": "EG\x00links"})),
     {"value.control_character"}),
    ("a key of 111 characters", change(";V1;", ";" + "V" * 111 + ";"), {"value.too_long"}),
    ("a name of 5,000 characters", change(";Groß;", ";" + "G" * 5000 + ";"),
     {"value.too_long"}),
    ("a street of 201 characters", change("Hauptstraße", "H" * 201), {"value.too_long"}),
    ("a key in scientific notation", change("0001;1;", "1,00E+03;1;"),
     {"key.excel_scientific"}),
    ("a key that lost its zeros", change("0001;1;", "1;1;"), {"key.leading_zeros"}),
    ("a date in another format", change("01.01.2020", "2020-01-01"), {"date.format"}),
    ("a date that does not exist", change("01.01.2020", "31.02.2020"), {"date.format"}),
    ("a date in 1800", change("01.01.2020", "01.01.1800"), {"date.range"}),
    ("a date in 2200", change("01.01.2020", "01.01.2200"), {"date.range"}),
    ("an end before the start", change("01.01.2020;;", "01.01.2020;31.12.2019;"),
     {"date.order"}),
    ("a number with a decimal point", change("60,5", "60.5x"), {"number.format"}),
    ("an area of -5", change("60,5", "-5"), {"living_area.range"}),
    ("an area of 20,000", change("60,5", "20000"), {"living_area.range"}),
    ("an unknown usage type", change("Wohnung", "Hobbyraum"), {"value.unknown"}),
    ("an unknown role", change(";HM;", ";XX;"), {"value.unknown"}),
    ("a last name missing", change(";Groß;", ";;"), {"name.missing"}),
    ("a contract key missing for a person", change(";V1;", ";;"), {"required"}),
    ("a postal code with four digits", change(";01067;", ";1067;"), {"postal_code.format"}),
    ("a postal code with letters", change(";01067;", ";O1O67;"), {"postal_code.format"}),
    ("an email without @", change("anna@example.de", "anna(at)example.de"), {"email.format"}),
    ("an email with blanks", change("anna@example.de", "anna @example.de"), {"email.format"}),
    ("mojibake", change(";Groß;", ";GroÃŸ;"), {"encoding.mojibake"}),
    ("a lossy save", change(";Groß;", ";Gro?e;"), {"encoding.lossy"}),
    ("a replacement character", change(";Groß;", ";Gro\ufffd;"), {"encoding.lossy"}),
    ("one field too many", csv(row(1), row(2) + ";x"), {"row.field_count"}),
    ("one field too few", csv(row(1), row(2).rsplit(";", 1)[0]), {"row.field_count"}),
    ("shifted columns", csv(row(1), row(2, **{";1;Hauptstraße": ";Hauptstraße"})),
     {"row.field_count"}),
    ("one contract with two units", csv(row(1), row(2, V2="V1", **{";P2;": ";P3;"})),
     {"key.unique"}),
    ("one person with two names", csv(row(1), row(2, **{";P2;": ";P1;", "Anna": "Berta"})),
     {"key.unique"}),
    ("one unit with two sizes", csv(row(1), row(2, **{";02;": ";01;", "60,5": "61,5"})),
     {"key.unique"}),
]


@pytest.fixture(scope="module")
def mapping_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mini") / "mini.yaml"
    path.write_text(MINI_YAML, encoding="utf-8")
    return path


def test_the_corpus_holds_at_least_80_cases() -> None:
    assert len(CASES) >= 80 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "content", "rules"), CASES, ids=[c[0] for c in CASES])
def test_each_hostile_export_is_reported_by_its_rule(tmp_path: Path, mapping_file: Path,
                                                     name: str, content: bytes,
                                                     rules: set[str]) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(content)
    result = check_export([export], mini_mapping())
    found = set(result.findings["rule"])
    assert found == rules, (name, result.findings[["line", "column", "rule", "value"]])
    assert result.findings["line"].notna().all() or found <= {
        "file.empty", "file.binary", "header.not_found", "row.unreadable", "file.no_data",
        "header.missing_column", "header.duplicate_column", "encoding.mixed"}
    cli = CliRunner().invoke(app, ["validate", str(export), "--mapping", str(mapping_file)])
    blocking = any(RULES[rule].severity == "error" for rule in rules)  # warnings are imported
    assert cli.exit_code == (4 if blocking else 0), cli.output
    assert "Traceback" not in cli.output


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_any_bytes_give_entities_or_findings(tmp_path_factory, data: bytes) -> None:
    export = tmp_path_factory.mktemp("fuzz") / "export.csv"
    export.write_bytes(data)
    result = check_export([export], mini_mapping())
    assert result.entities is not None or not result.findings.empty


_GOOD = csv(row(1), row(2), row(3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(_GOOD)), st.integers(0, 8),
                          st.binary(min_size=0, max_size=6)), min_size=1, max_size=5))
def test_any_damage_to_a_good_export_gives_entities_or_findings(tmp_path_factory,
                                                                edits) -> None:
    data = bytearray(_GOOD)
    for at, cut, insert in edits:
        data[at:at + cut] = insert
    export = tmp_path_factory.mktemp("fuzz") / "export.csv"
    export.write_bytes(bytes(data))
    result = check_export([export], mini_mapping())
    assert result.ok or not result.findings.empty
    assert yaml.safe_load("[]") == []  # the module imports yaml for the mapping file fixture
