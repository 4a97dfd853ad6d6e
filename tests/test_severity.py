"""Severity per rule: an error blocks the export, a warning is imported as it is and reported to
ERP staff all the same. A legacy ERP that writes Windows-1252 loses letters it cannot hold (ı, ş,
ą, ł become '?') on every export: such names are warnings, and the portal follows its ERP; in a
key the same loss is an error. A mapping or a source may change a rule's severity."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from etl.cli import app
from etl.core.errors import ConfigError
from etl.core.mapping_load import parse_mapping
from etl.core.rules import RULES
from etl.core.severity import override_problems, severities
from tests.conftest import MINI_HEADER, MINI_ROW, SAMPLES, mini_mapping, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
cli = CliRunner()


def lossy_export(folder: Path) -> Path:
    """The November export as a cp1252 ERP writes a Turkish and a Polish name: every row of
    these residents carries the '?' (the ERP does so on every export)."""
    body = NOV.read_bytes().replace("Jürgen".encode("latin-1"), b"Y?lmaz").replace(
        "Müller".encode("latin-1"), b"D?browski")
    assert body.count(b"?") >= 2
    path = folder / NOV.name
    path.write_bytes(body)
    return path


def source_config(tmp_path: Path, database_url: str, mapping: str = "wodis-style",
                  **source: object) -> str:
    (tmp_path / "drop" / "inbox").mkdir(parents=True, exist_ok=True)
    return str(write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": mapping,
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}, **source}}))


def test_the_catalogue_gives_every_rule_a_severity() -> None:
    assert RULES["encoding.lossy"].severity == "warning"
    assert RULES["key.lossy"].severity == "error" and not RULES["key.lossy"].may_warn
    assert all(r.severity in ("error", "warning") for r in RULES.values())
    assert all(r.may_warn for r in RULES.values() if r.severity == "warning")
    shown = yaml.safe_load(cli.invoke(app, ["rules"]).output)
    assert shown["encoding.lossy"]["severity"] == "warning"
    assert shown["required"] == {**shown["required"], "severity": "error", "may_warn": False}


def test_a_source_overrides_its_mapping_which_overrides_the_catalogue() -> None:
    judged = severities({"encoding.lossy": "error", "email.format": "warning"},
                        {"encoding.lossy": "warning"})
    assert judged["encoding.lossy"] == "warning" and judged["email.format"] == "warning"
    assert judged["required"] == "error"


def test_every_mistake_in_rules_is_named_at_once() -> None:
    problems = override_problems({"nope": "warning", "required": "warning",
                                  "email.format": "maybe", "phone.format": "warning"})
    assert problems == [
        "rules.nope: unknown rule (see `etl rules`)",
        "rules.required: cannot be a warning — a value it finds cannot be imported as it is",
        "rules.email.format: 'maybe' is neither error nor warning"]


def test_a_mapping_with_bad_rules_is_refused_when_it_loads() -> None:
    data = yaml.safe_load((SAMPLES.parent / "mappings" / "wodis-style.yaml").read_text("utf-8"))
    data["rules"] = {"key.unique": "warning", "encoding.lossi": "error"}
    with pytest.raises(ConfigError) as info:
        parse_mapping(data, "wodis-style.yaml")
    text = "\n".join(info.value.problems)
    assert "rules.key.unique: cannot be a warning" in text
    assert "rules.encoding.lossi: unknown rule" in text


def test_a_config_with_bad_source_rules_is_refused(tmp_path) -> None:
    cfg = source_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}",
                        rules={"date.format": "warning"})
    result = cli.invoke(app, ["status", "--config", cfg])
    assert result.exit_code == 3 and "rules.date.format: cannot be a warning" in result.output
    assert not (tmp_path / "portal.db").exists()


def test_a_lossy_name_is_a_warning_and_a_lossy_key_an_error(check) -> None:
    name = MINI_ROW.replace("Groß", "Y?lmaz")
    result = check(f"{MINI_HEADER}\n{name}\n")
    assert result.ok
    assert result.findings[["rule", "severity"]].values.tolist() == [["encoding.lossy",
                                                                       "warning"]]
    key = MINI_ROW.replace("P1", "Pa?b")
    result = check(f"{MINI_HEADER}\n{key}\n")
    assert not result.ok
    assert result.findings[["rule", "column", "severity"]].values.tolist() == [
        ["key.lossy", "Person", "error"]]


def test_a_mapping_may_make_lossy_names_an_error(check) -> None:
    spec = mini_mapping()
    strict = spec.model_copy(update={"rules": {"encoding.lossy": "error"}})
    result = check(f"{MINI_HEADER}\n{MINI_ROW.replace('Groß', 'Y?lmaz')}\n", strict)
    assert not result.ok and result.findings["severity"].tolist() == ["error"]


def test_an_export_with_lossy_names_is_imported_and_erp_staff_are_told(tmp_path,
                                                                       database_url) -> None:
    cfg = source_config(tmp_path, database_url)
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    shutil.copy(lossy_export(tmp_path), tmp_path / "drop" / "inbox")
    result = cli.invoke(app, ["run", "--config", cfg])
    assert result.exit_code == 0, result.output
    archived = next((tmp_path / "drop" / "archive").rglob("*.csv"))
    report = archived.with_name(archived.stem + ".fehler.csv")
    rows = list(csv.DictReader(io.StringIO(report.read_bytes().decode("utf-8-sig")),
                               delimiter=";"))
    assert rows and {r["Regel"] for r in rows} == {"encoding.lossy"}
    assert {r["Schwere"] for r in rows} == {"Warnung (übernommen)"}
    assert {r["Wert"] for r in rows} == {"(ausgeblendet)"}  # names stay out of reports
    page = archived.with_name(archived.stem + ".bericht.html").read_text("utf-8")
    assert "Warnung (übernommen)" in page
    runs = [json.loads(line) for line in
            cli.invoke(app, ["runs", "--json", "--config", cfg]).output.splitlines()]
    assert runs[0]["status"] == "applied" and runs[0]["findings"] == {}
    assert runs[0]["warnings"] == {"encoding.lossy": len(rows)}
    shown = cli.invoke(app, ["runs", runs[0]["run_id"], "--config", cfg]).output
    assert f"Warnings: encoding.lossy {len(rows)}" in shown


def test_import_says_how_many_warnings_it_imported(tmp_path) -> None:
    cfg = source_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}")
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    report = tmp_path / "warnings.csv"
    result = cli.invoke(app, ["import", str(lossy_export(tmp_path)), "--source", "lindenhof",
                              "--report", str(report), "--config", cfg])
    assert result.exit_code == 0 and "APPLIED" in result.output
    assert "imported as they are (encoding.lossy" in result.output
    assert "Warnung (übernommen)" in report.read_bytes().decode("utf-8-sig")


def test_a_source_may_refuse_lossy_names(tmp_path) -> None:
    cfg = source_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}",
                        rules={"encoding.lossy": "error"})
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    shutil.copy(lossy_export(tmp_path), tmp_path / "drop" / "inbox")
    result = cli.invoke(app, ["run", "--config", cfg])
    assert result.exit_code == 4
    text = next((tmp_path / "drop" / "error").glob("*.fehler.txt")).read_bytes()
    assert "Fehler" in text.decode("utf-8-sig")
    runs = [json.loads(line) for line in
            cli.invoke(app, ["runs", "--json", "--config", cfg]).output.splitlines()]
    assert runs[0]["status"] == "rejected" and runs[0]["findings"]["encoding.lossy"] > 0


def test_a_name_that_only_lost_letters_keeps_the_stored_one(tmp_path, database_url,
                                                            engine) -> None:
    """The portal holds 'Yılmaz' (from a UTF-8 export); the ERP now writes Windows-1252 and
    sends 'Y?lmaz': the stored name stays, and no name_changed is sent to the portal. A real
    change of the same resident is still one."""
    cfg = source_config(tmp_path, database_url)
    text = NOV.read_bytes().decode("latin-1")
    first = tmp_path / "mieterliste_2026-11-01.csv"
    first.write_bytes(text.replace("Jürgen", "Yılmaz").replace("Müller", "Dąbrowski")
                      .encode("utf-8"))
    lossy = tmp_path / "mieterliste_2026-12-01.csv"
    lossy.write_bytes(text.replace("Jürgen", "Y?lmaz").replace("Müller", "D?browski")
                      .encode("cp1252"))
    renamed = tmp_path / "mieterliste_2027-01-01.csv"
    renamed.write_bytes(text.replace("Jürgen", "Y?lmaz").replace("Müller", "Schmidt")
                        .encode("cp1252"))

    def imported(path: Path) -> dict:
        result = cli.invoke(app, ["import", str(path), "--source", "lindenhof", "--json",
                                  "--config", cfg])
        assert result.exit_code == 0, result.output
        return json.loads(result.output.splitlines()[-1])

    def names() -> set[tuple[str, str]]:
        with engine.connect() as conn:
            return set(conn.execute(sa.text(
                "SELECT first_name, last_name FROM person WHERE person_id = '004711'")).all())

    imported(first)
    assert names() == {("Yılmaz", "Dąbrowski-Lüdenscheidt")}
    second = imported(lossy)
    assert second["status"] in {"applied", "unchanged"} and second["warning_findings"] > 0
    assert "person_changed" not in second["events"] and "name_changed" not in second["events"]
    assert names() == {("Yılmaz", "Dąbrowski-Lüdenscheidt")}
    third = imported(renamed)
    assert third["events"].get("name_changed") == 2  # Jürgen's and Käthe's family name
    assert names() == {("Yılmaz", "Schmidt-Lüdenscheidt")}


def test_the_stale_check_uses_the_date_the_export_itself_gives(tmp_path) -> None:
    """A file named for December whose title says October is older than the November export
    already applied: the guard refuses it, by the export's own date, not the file name's."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    data = yaml.safe_load((SAMPLES.parent / "mappings" / "wodis-style.yaml").read_text("utf-8"))
    data["files"][next(iter(data["files"]))]["export_time"] = {
        "title": r"Stichtag: (?P<d>\d\d)\.(?P<m>\d\d)\.(?P<y>\d{4})"}
    (mappings / "wodis-style.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                               encoding="utf-8")
    cfg = source_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}")
    text = Path(cfg).read_text("utf-8").replace(str(SAMPLES.parent / "mappings"), str(mappings))
    Path(cfg).write_text(text, encoding="utf-8")
    assert cli.invoke(app, ["db", "upgrade", "--config", cfg]).exit_code == 0
    first = cli.invoke(app, ["import", str(NOV), "-s", "lindenhof", "--json", "--config", cfg])
    assert json.loads(first.output.splitlines()[-1])["status"] == "applied"
    late = tmp_path / "mieterliste_2026-12-01.csv"
    late.write_bytes((SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv").read_bytes()
                     .replace(b"Stichtag: 01.12.2026", b"Stichtag: 01.10.2026"))
    result = cli.invoke(app, ["import", str(late), "-s", "lindenhof", "--config", cfg])
    assert result.exit_code == 4 and "REFUSED" in result.output
    assert "older than the last applied" in result.output
