"""Deployment that works as written: the systemd units verify and are hardened, the example
configuration writes only where the units allow, and the crontab line survives a missing or a
quoted secrets file."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from etl.core.config import load_config
from tests.conftest import MAPPINGS, ROOT, SAMPLES

DEPLOY = ROOT / "deploy"
SERVICES = ["etl-import.service", "etl-scheduler.service"]
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd is not installed here")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name)
    return parser


@needs_systemd
def test_the_units_verify(tmp_path: Path) -> None:
    """systemd-analyze verify, with ExecStart pointing at this checkout's etl."""
    etl = shutil.which("etl") or str(ROOT / ".venv" / "bin" / "etl")
    for name in [*SERVICES, "etl-import.timer"]:
        text = (DEPLOY / name).read_text().replace("/opt/etl/.venv/bin/etl", etl)
        (tmp_path / name).write_text(text)
    result = subprocess.run([ANALYZE, "verify", *(str(tmp_path / n) for n in SERVICES),
                             str(tmp_path / "etl-import.timer")],
                            check=False, capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines()
                if "etl" in line and "not executable" not in line]
    assert result.returncode == 0 and problems == [], result.stderr


@needs_systemd
@pytest.mark.parametrize("name", SERVICES)
def test_the_services_are_hardened(name: str) -> None:
    result = subprocess.run([ANALYZE, "security", "--offline=true", str(DEPLOY / name)],
                            check=False, capture_output=True, text=True, timeout=60)
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    assert float(level[1]) <= 3.0, result.stdout


def test_the_example_configuration_writes_only_where_the_units_allow(tmp_path: Path) -> None:
    data = yaml.safe_load((DEPLOY / "config.yaml").read_text(encoding="utf-8"))
    data["mappings_dir"] = str(MAPPINGS)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    cfg = load_config(config)
    for name in SERVICES:
        service = unit(name)["Service"]
        writable = [Path("/var/lib") / service["StateDirectory"],
                    *(Path(p.lstrip("-")) for p in service["ReadWritePaths"].split())]
        assert service["UMask"] == "0077" and cfg.umask == "0077"
        assert any(cfg.work_dir.is_relative_to(w) for w in writable), name
        for source in cfg.sources.values():
            if source.drop is not None and source.drop.sftp is None:
                assert any(Path(source.drop.path).is_relative_to(w) for w in writable)
            if source.drop is not None and source.drop.sftp is not None:
                assert cfg.known_hosts(source.drop.sftp).is_relative_to(writable[0])


def crontab_command() -> tuple[dict[str, str], str]:
    """The variables and the command of deploy/crontab's job line."""
    variables, command = {}, ""
    for line in (DEPLOY / "crontab").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            key, _, value = line.partition("=")
            variables[key] = value
        else:
            command = line.split(None, 6)[6]  # five time fields and the user
    return variables, command


@pytest.mark.parametrize("secrets", [None, 'ETL_DATABASE_URL="sqlite:///{db}"\n',
                                     "ETL_DATABASE_URL='sqlite:///{db}'\n# a comment\n"])
def test_the_crontab_line_survives_a_missing_or_quoted_secrets_file(tmp_path: Path,
                                                                    secrets: str | None) -> None:
    variables, command = crontab_command()
    assert variables["SHELL"] == "/bin/sh" and "ETL_ENV_FILE" in variables
    db = tmp_path / "from-secrets.db"
    config = tmp_path / "config.yaml"
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    config.write_text(yaml.safe_dump({
        "mappings_dir": str(MAPPINGS), "work_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite:///{tmp_path / 'from-config.db'}"},
        "sources": {"s": {"client": "c", "mapping": "wodis-style",
                          "drop": {"path": str(drop), "settle_seconds": 0}}}}))
    secrets_file = tmp_path / "secrets.env"
    if secrets is not None:
        secrets_file.write_text(secrets.format(db=db))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ETL_DATABASE", "ETL_FAULT"))}
    env.update(ETL_CONFIG=str(config), ETL_ENV_FILE=str(secrets_file))
    shell = command.replace("/opt/etl", str(ROOT))
    subprocess.run([str(ROOT / ".venv" / "bin" / "etl"), "db", "upgrade"], env={
        **env, "ETL_DATABASE_URL": f"sqlite:///{db if secrets else tmp_path / 'from-config.db'}"},
        check=True, capture_output=True, timeout=120)
    shutil.copy(SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv", drop / "inbox")
    result = subprocess.run(["/bin/sh", "-c", shell], env=env, check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "APPLIED" in result.stdout
    used = db if secrets else tmp_path / "from-config.db"
    assert used.exists() and used.stat().st_size > 0
