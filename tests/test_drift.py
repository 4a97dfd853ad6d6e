"""Dialect drift: the form of each source's last accepted export (encoding, delimiter, header
row per file) is remembered; a column renamed, added or missing is refused before anything is
applied (or, with `guard.dialect_change: warn`, reported), another encoding is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import SAMPLES, dump, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
cli = CliRunner()


def etl(*args: str):  # type: ignore[no-untyped-def]
    return cli.invoke(app, list(args), catch_exceptions=False)


def with_extra_column(tmp_path: Path) -> Path:
    """November again with a new last column "Hinweis" (empty): same rows, other form."""
    lines = NOV.read_bytes().split(b"\r\n")
    header = next(i for i, line in enumerate(lines) if line.startswith(b"WE;"))
    out = [line if i < header or not line else line + (b";Hinweis" if i == header else b";")
           for i, line in enumerate(lines)]
    path = tmp_path / "mieterliste_2026-11-02.csv"
    path.write_bytes(b"\r\n".join(out))
    return path


def config(tmp_path: Path, database_url: str, **guard: str) -> str:
    return str(write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style", **({"guard": guard} if guard else {})
    }}))


def test_a_new_column_is_refused_before_anything_is_applied(tmp_path, database_url,
                                                            engine) -> None:
    cfg = config(tmp_path, database_url)
    assert etl("-c", cfg, "import", str(NOV), "-s", "lindenhof").exit_code == 0
    before = dump(engine)
    changed = with_extra_column(tmp_path)
    refused = etl("-c", cfg, "import", str(changed), "-s", "lindenhof", "--json")
    assert refused.exit_code == 4
    out = json.loads(refused.stdout)
    assert out["status"] == "refused"
    assert out["guard_problems"] == ["The columns of file 'residents' changed against the last "
                                     "accepted export: missing –; new Hinweis."]
    assert dump(engine) == before
    forced = etl("-c", cfg, "import", str(changed), "-s", "lindenhof", "--force", "--reason",
                 "neue Spalte angekündigt")
    assert forced.exit_code == 0 and "overridden" in forced.output
    # the new form is the remembered one now: the same form again passes
    (tmp_path / "later").mkdir()
    again = with_extra_column(tmp_path / "later")
    again.write_bytes(again.read_bytes() + b"\r\n")  # another file, the same form
    assert etl("-c", cfg, "import", str(again), "-s", "lindenhof").exit_code == 0


def test_with_warn_a_new_column_is_reported_and_applied(tmp_path, database_url, engine) -> None:
    cfg = config(tmp_path, database_url, dialect_change="warn")
    assert etl("-c", cfg, "import", str(NOV), "-s", "lindenhof").exit_code == 0
    result = etl("-c", cfg, "import", str(with_extra_column(tmp_path)), "-s", "lindenhof")
    assert result.exit_code == 0 and "UNCHANGED" in result.output
    assert "Warning: The columns of file 'residents' changed" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_another_encoding_is_a_warning(tmp_path, database_url, engine) -> None:
    cfg = config(tmp_path, database_url)
    assert etl("-c", cfg, "import", str(NOV), "-s", "lindenhof").exit_code == 0
    utf8 = tmp_path / "mieterliste_2026-11-02.csv"
    utf8.write_bytes(NOV.read_bytes().decode("cp1252").encode("utf-8"))
    result = etl("-c", cfg, "import", str(utf8), "-s", "lindenhof")
    assert result.exit_code == 0 and "UNCHANGED" in result.output
    assert "Warning: File 'residents' is now encoded in utf-8 instead of cp1252." in \
        result.output


def test_the_first_import_has_nothing_to_compare(tmp_path, database_url, engine) -> None:
    cfg = config(tmp_path, database_url)
    result = etl("-c", cfg, "import", str(with_extra_column(tmp_path)), "-s", "lindenhof")
    assert result.exit_code == 0 and "Warning" not in result.output
