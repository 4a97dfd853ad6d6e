"""Derive the bad-input corpus from the good samples: each file carries one kind of breakage that
real ERP exports show. Deterministic; run from the repository root to regenerate.

    python sample_exports/bad/make_bad.py
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bad"
GOOD = (ROOT / "wodis-style" / "mieterliste_2026-11-01.csv").read_bytes().decode("cp1252")
LINES = GOOD.split("\r\n")  # LINES[i] is physical line i + 1; the header is line 4


def wodis(name: str, lines: list[str], encoding: str = "cp1252") -> None:
    (OUT / "wodis-style").mkdir(parents=True, exist_ok=True)
    (OUT / "wodis-style" / name).write_bytes("\r\n".join(lines).encode(encoding))


def edit(line: int, old: str, new: str) -> list[str]:
    """The good sample with one replacement on one physical line."""
    lines = list(LINES)
    assert old in lines[line - 1], (line, old)
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return lines


def main() -> None:
    wodis("empty.csv", [""])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, xml in (("[Content_Types].xml", "<Types/>"), ("xl/workbook.xml", "<workbook/>")):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 1, 6, 0, 0)), xml)
    (OUT / "wodis-style" / "excel_workbook_named_csv.csv").write_bytes(buf.getvalue())
    wodis("header_only.csv", [*LINES[:4], ""])
    wodis("wrong_delimiter.csv", [line.replace(";", ",") for line in LINES[3:8]] + [""])
    header = LINES[3].split(";")
    drop = header.index("Vertragsbeginn")
    wodis("missing_column.csv",
          [";".join(f for i, f in enumerate(line.split(";")) if i != drop) for line in LINES[3:6]]
          + [""])
    wodis("duplicate_column.csv", [*LINES[:3], LINES[3].replace("Mobil", "E-Mail"), *LINES[4:]])
    mojibake = edit(6, "Käthe;Müller-Lüdenscheidt", "KÃ¤the;MÃ¼ller-LÃ¼denscheidt")
    wodis("mojibake.csv", mojibake, "utf-8")
    wodis("lossy_excel_save.csv", edit(7, "Lindenstraße", "Lindenstra?e"))
    wodis("excel_scientific_keys.csv", edit(12, ";00120100501;", ";1,20100501E+09;"))
    wodis("lost_leading_zeros.csv", edit(18, "0034;", "34;"))
    wodis("impossible_date.csv", edit(7, "15.08.2019", "31.02.2019"))
    wodis("iso_date_in_german_export.csv", edit(14, "01.05.2017", "2017-05-01"))
    wodis("end_before_start.csv", edit(19, "01.01.2024;31.12.2026", "01.01.2024;31.12.2023"))
    wodis("unknown_usage_type.csv", edit(21, ";Keller;", ";Hobbyraum;"))
    wodis("unquoted_delimiter.csv", edit(20, ";2. OG;", ";2. OG; Hinterhaus;"))
    wodis("unclosed_quote.csv", edit(25, 'i.lemke@example.de";', "i.lemke@example.de;"))
    wodis("postal_code_lost_zero.csv", edit(5, "01099 Dresden", "1099 Dresden"))
    wodis("invalid_email.csv", edit(12, "stefan.schaefer@example.de", "stefan.schaefer(at)example"))
    wodis("conflicting_unit_data.csv", edit(13, ";88,00;", ";86,00;"))
    wodis("missing_last_name.csv", edit(10, ";Marie-Luise;Weiß;", ";Marie-Luise;;"))
    wodis("decimal_comma_lost.csv", edit(5, ";72,50;", ";7250;"))
    wodis("rooms_not_a_number.csv", edit(15, ";4,5;", ";4 1/2;"))
    wodis("unknown_role.csv", edit(13, ";HA;", ";UM;"))
    generic = (ROOT / "generic" / "portal_import_2026-11-01.csv").read_text(encoding="utf-8")
    (OUT / "generic").mkdir(parents=True, exist_ok=True)
    (OUT / "generic" / "saved_as_ansi.csv").write_bytes(generic.encode("cp1252", "replace"))
    sap = ROOT / "sap-style"
    for case, skip, change in (
        ("missing_partner_file", "RE_GP_20261101.csv", None),
        ("contract_without_rental_object", None,
         ("RE_MV_20261101.csv", ";00000200;00000002;00020001;20160201;",
          ";00000200;00000002;00020009;20160201;")),
    ):
        target = OUT / "sap-style" / case
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted(sap.glob("*.csv")):
            if f.name == skip:
                continue
            data = f.read_bytes()
            if change and f.name == change[0]:
                data = data.replace(change[1].encode(), change[2].encode(), 1)
            (target / f.name).write_bytes(data)
    alpen = (ROOT / "alpen-style" / "objektliste_2026-11-01.csv").read_bytes().decode("latin-1")
    (OUT / "alpen-style").mkdir(parents=True, exist_ok=True)
    for name, old, new in (
        ("postal_code_padded_to_five.csv", ";8032;Zürich;756;", ";08032;Zürich;756;"),
        ("country_as_a_name.csv", ";Zürich;756;", ";Zürich;Schweiz;"),
        ("tenant_without_name_or_firm.csv", ";Marie-Claire;Frick;", ";;;"),
    ):
        assert old in alpen, name
        (OUT / "alpen-style" / name).write_bytes(alpen.replace(old, new).encode("latin-1"))
    legacy = (ROOT / "altsystem-style" / "BESTAND_20261101.csv").read_bytes().decode("cp1252")
    (OUT / "altsystem-style").mkdir(parents=True, exist_ok=True)
    other = "".join(f"300;030;{h};Westring;{h};24116;Kiel;00{h};WHG;45,00;30-90{h};01.01.2020;;"
                    f"0093{h}0;1;Frau;Greta;Hansen;;\r\n" for h in range(1, 6))
    for name, text in (
        ("all_clients_exported.csv", legacy + other),  # the job exported a third Mandant too
        ("row_of_another_client.csv", legacy.replace("\r\n100;010;5;", "\r\n110;010;5;", 1)),
    ):
        (OUT / "altsystem-style" / name).write_bytes(text.encode("cp1252"))


if __name__ == "__main__":
    main()
