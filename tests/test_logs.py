"""Log lines for machines and people, and progress bars: every line names source, run id and
stage; `--log-format json` is one object per line, `journal` has `<N>` priorities and no time of
its own, `auto` picks journal under systemd (JOURNAL_STREAM), JSON off a terminal and text on
one — where progress bars are drawn too, unless --quiet."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import SAMPLES, write_config

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
ETL = [sys.executable, "-m", "etl"]
cli = CliRunner()
PRIORITY = {"DEBUG": "7", "INFO": "6", "WARNING": "4", "ERROR": "3", "CRITICAL": "2"}


def _drop_with_an_export(tmp_path: Path) -> str:
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {"lindenhof": {
        "client": "wg-lindenhof", "mapping": "wodis-style",
        "drop": {"path": str(tmp_path / "drop"), "settle_seconds": 0}}})
    (tmp_path / "drop" / "inbox").mkdir(parents=True)
    shutil.copy(NOV, tmp_path / "drop" / "inbox")
    assert cli.invoke(app, ["-c", str(cfg), "db", "upgrade"]).exit_code == 0
    return str(cfg)


def test_json_lines_carry_source_run_and_stage(tmp_path: Path) -> None:
    cfg = _drop_with_an_export(tmp_path)
    result = cli.invoke(app, ["-c", str(cfg), "--log-format", "json", "run"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and all(line["source"] == "lindenhof" and line["stage"] for line in lines)
    run_id = re.search(r"run (\S+)\)", result.stderr)[1]  # type: ignore[index]
    applied = next(line for line in lines if "APPLIED" in line["message"])
    assert applied["run_id"] == run_id and applied["stage"] == "settle"
    assert {"time", "level", "logger", "message"} <= set(applied)


def test_journal_lines_have_priorities_and_no_time(tmp_path: Path) -> None:
    cfg = _drop_with_an_export(tmp_path)
    result = cli.invoke(app, ["run", "-c", str(cfg), "--log-format", "journal",
                              "--log-level", "debug"])
    lines = result.stderr.splitlines()
    assert any(line.startswith("<7>DEBUG") for line in lines)
    for line in lines:
        prefix = re.match(r"<(\d)>(\w+) ", line)
        assert prefix and PRIORITY[prefix[2]] == prefix[1], line
        assert not re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", line.split("etl", 1)[0]), line
    assert any("[source=lindenhof run_id=" in line and "stage=settle]" in line
               for line in lines)


def _run_to_file(cfg: str, tmp_path: Path, journal: bool) -> str:
    err = tmp_path / "stderr.txt"
    with err.open("w") as fh:
        st = os.fstat(fh.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([*ETL, "-c", cfg, "run"], stdout=subprocess.DEVNULL, stderr=fh,
                       env=env, check=True, timeout=120)
    return err.read_text()


def test_auto_is_journal_under_systemd_and_json_in_a_pipe(tmp_path: Path) -> None:
    cfg = _drop_with_an_export(tmp_path)
    journal = _run_to_file(cfg, tmp_path, journal=True)
    assert journal.startswith("<6>INFO [source=lindenhof")
    shutil.copy(NOV, tmp_path / "drop" / "inbox" / "mieterliste_2026-12-01.csv")
    piped = _run_to_file(cfg, tmp_path, journal=False)
    assert all(json.loads(line)["source"] == "lindenhof" for line in piped.splitlines())


def _on_a_terminal(args: list[str]) -> str:
    """What a terminal shows while ``etl ARGS`` runs (stdout and stderr on a pseudo-terminal)."""
    main, side = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("JOURNAL_STREAM", None)
    process = subprocess.Popen([*ETL, *args], stdin=subprocess.DEVNULL, stdout=side,
                               stderr=side, env=env)
    os.close(side)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=30) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("quiet", [False, True])
def test_a_terminal_gets_text_and_progress_bars_unless_quiet(tmp_path: Path,
                                                            quiet: bool) -> None:
    cfg = _drop_with_an_export(tmp_path)
    shown = _on_a_terminal(["-c", cfg, "run", *(["--quiet"] if quiet else [])])
    assert "lindenhof: mieterliste_2026-11-01.csv APPLIED" in shown
    bar = "━" in shown and "mieterliste_2026-11-01.csv" in shown and "settle" in shown
    text_log = re.search(r"\d\d:\d\d:\d\d INFO +\[source=lindenhof", shown)
    assert bool(bar) is not quiet and bool(text_log) is not quiet, shown


def test_no_bars_off_a_terminal(tmp_path: Path) -> None:
    cfg = _drop_with_an_export(tmp_path)
    result = cli.invoke(app, ["-c", cfg, "run"])
    assert "━" not in result.output and "\x1b[" not in result.output
