"""No personal data in any message, log line or report: every sample and bad export runs through
`etl run` at DEBUG (and `etl validate`), and the output and the reports are searched for every
name, email address and phone number the exports hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etl.core.mapping_load import load_mapping
from etl.core.model import ENTITIES
from etl.pipeline import check_export, group_exports
from tests.conftest import MAPPINGS, SAMPLES, write_config

ETL = [sys.executable, "-m", "etl"]
PERSONAL = [f.name for f in ENTITIES["person"].fields if f.personal]
# values the bad corpus edited into personal columns (make_bad.py)
EDITED = ["stefan.schaefer(at)example", "i.lemke@example.de", "Marie-Luise"]


def personal_values(dialect: str) -> set[str]:
    """Every name, email and phone of the dialect's good samples (4 characters or more)."""
    spec = load_mapping(dialect, MAPPINGS)
    values: set[str] = set()
    for export in group_exports(sorted((SAMPLES / dialect).glob("*.csv")), spec):
        entities = check_export(export, spec).entities
        assert entities is not None
        person = entities.frames["person"]
        values |= {str(v) for f in PERSONAL for v in person[f].dropna() if len(str(v)) >= 4}
    return values


def etl(config: Path, *args: str) -> str:
    result = subprocess.run([*ETL, *args, "--config", str(config)], check=False,
                            capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("dialect", ["wodis-style", "sap-style", "generic"])
def test_no_output_and_no_report_holds_personal_data(tmp_path: Path, dialect: str) -> None:
    values = personal_values(dialect) | set(EDITED)
    multi = dialect == "sap-style"
    drop = tmp_path / "drop"
    source = {"client": "c", "mapping": dialect, "guard": {"max_ended_share": 1, "max_shrink": 1},
              "drop": {"path": str(drop), "settle_seconds": 0, "pattern": "*.csv",
                       **({"manifest": "*.manifest"} if multi else {})}}
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'portal.db'}", {"s": source})
    inbox = drop / "inbox"
    inbox.mkdir(parents=True)
    etl(config, "db", "upgrade")
    outputs = []
    if multi:  # the good set, then each bad set with a manifest of what it holds
        for k, folder in enumerate([SAMPLES / dialect,
                                    *sorted((SAMPLES / "bad" / dialect).iterdir())]):
            members = sorted(folder.glob("*.csv"))
            for member in members:
                shutil.copy(member, inbox / member.name)
            outputs.append(etl(config, "validate", *map(str, members), "--mapping", dialect))
            (inbox / f"RE_{k}.manifest").write_text("\n".join(m.name for m in members) + "\n")
            outputs.append(etl(config, "run", "--log-level", "DEBUG"))
    else:
        exports = [*sorted((SAMPLES / dialect).glob("*.csv")),
                   *sorted((SAMPLES / "bad" / dialect).glob("*.csv"))]
        for k, export in enumerate(exports):
            shutil.copy(export, inbox / f"{k:03d}_{export.name}")
        outputs.append(etl(config, "validate", *map(str, exports), "--mapping", dialect))
        outputs.append(etl(config, "run", "--log-level", "DEBUG"))
    reports = [p.read_text("utf-8-sig") for p in drop.rglob("*.fehler.*")]
    assert reports, "the bad exports left reports"
    text = "\n".join(outputs + reports)
    assert "DEBUG" in text  # the logs were as talkative as they get
    leaked = sorted(v for v in values if v in text)
    assert leaked == []
