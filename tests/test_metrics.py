"""The metrics textfile: written atomically after every run from the run records, parsed here
with prometheus_client's own parser; a folder that cannot be written is a warning, never a failed
import."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import SAMPLES, as_unprivileged, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
DEC = SAMPLES / "wodis-style" / "mieterliste_2026-12-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"
cli = CliRunner()


def _config(tmp_path: Path, database_url: str, textfile: Path) -> str:
    cfg = write_config(tmp_path, database_url, {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}},
        metrics={"textfile": str(textfile)})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    return str(cfg)


def samples(path: Path) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(path.read_text())
            for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def test_runs_outcomes_events_rows_and_stages_are_in_the_textfile(
        tmp_path: Path, database_url: str, engine) -> None:
    prom = tmp_path / "metrics" / "etl.prom"
    prom.parent.mkdir()
    cfg = _config(tmp_path, database_url, prom)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    assert cli.invoke(app, ["-c", cfg, "run"]).exit_code == 0
    found = samples(prom)
    assert value(found, "etl_runs_total", source="lindenhof", outcome="applied") == 1
    assert value(found, "etl_events_total", source="lindenhof", event="initial_import") == 6
    assert value(found, "etl_rows", source="lindenhof", entity="person") == 15
    assert value(found, "etl_failures_in_a_row", source="lindenhof") == 0
    assert abs(value(found, "etl_last_success_timestamp_seconds", source="lindenhof")
               - time.time()) < 120
    assert value(found, "etl_last_run_stage_seconds", source="lindenhof", stage="load") >= 0

    for bad in ("mieterliste_2026-12-01.csv", "mieterliste_2026-12-02.csv"):
        shutil.copy(BAD, tmp_path / "drop" / "inbox" / bad)
        assert cli.invoke(app, ["-c", cfg, "run"]).exit_code == 4
    found = samples(prom)
    assert value(found, "etl_runs_total", source="lindenhof", outcome="rejected") == 2
    assert value(found, "etl_failures_in_a_row", source="lindenhof") == 2
    assert value(found, "etl_rejected_problems_total", source="lindenhof",
                 rule="email.format") == 2
    assert list(prom.parent.iterdir()) == [prom]  # no temporary file left behind

    # an operator's import writes it too, and a success ends the row of failures
    assert cli.invoke(app, ["-c", cfg, "import", str(DEC), "-s", "lindenhof", "--force",
                            "--reason", "geprüft"]).exit_code == 0
    found = samples(prom)
    assert value(found, "etl_failures_in_a_row", source="lindenhof") == 0
    assert value(found, "etl_events_total", source="lindenhof", event="moved") == 4
    text = prom.read_text()
    for personal in ("Müller", "@", "Straße"):  # residents' data never reaches a label
        assert personal not in text


def test_a_textfile_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "metrics"
    folder.mkdir(mode=0o500)
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", folder / "etl.prom")
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    etl = [*as_unprivileged(), sys.executable, "-m", "etl", "-c", cfg]
    subprocess.run([*etl, "db", "upgrade"], check=True, capture_output=True)
    ran = subprocess.run([*etl, "--log-format", "text", "run"], capture_output=True, text=True,
                         check=False, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "APPLIED" in ran.stdout
    assert "WARNING" in ran.stderr and "metrics not written" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_textfile_must_end_in_prom(tmp_path: Path) -> None:
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", tmp_path / "etl.txt")
    result = cli.invoke(app, ["-c", cfg, "status"])
    assert result.exit_code == 3 and ".prom" in result.output


def test_warnings_of_imported_exports_are_counted_by_rule(tmp_path: Path) -> None:
    from tests.test_severity import lossy_export

    prom = tmp_path / "etl.prom"
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", prom)
    assert cli.invoke(app, ["-c", cfg, "db", "upgrade"]).exit_code == 0
    shutil.copy(lossy_export(tmp_path), tmp_path / "drop" / "inbox")
    assert cli.invoke(app, ["-c", cfg, "run"]).exit_code == 0
    found = samples(prom)
    assert value(found, "etl_runs_total", source="lindenhof", outcome="applied") == 1
    assert value(found, "etl_imported_warnings_total", source="lindenhof",
                 rule="encoding.lossy") >= 2
    assert ("etl_rejected_problems_total", frozenset(
        {"source": "lindenhof", "rule": "encoding.lossy"}.items())) not in found
