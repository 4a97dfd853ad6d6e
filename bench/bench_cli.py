"""How fast `etl` starts: `etl --help`, `etl --version`, `etl rules` and `etl status` (on an
empty SQLite portal database with one local drop) as whole processes, against a bare Python
start and the stack's floor (importing typer, pydantic, PyYAML and rich, and defining one
model), median of several runs (the target of the issues: 0.3 s).

    python -m bench.bench_cli [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.child import compiled

ETL = str(Path(sys.executable).with_name("etl"))


# What every command that reads config.yaml and prints a table imports, before any of our code:
# the CLI (typer), the configuration's models (pydantic), YAML and tables (rich).
FLOOR = ("import typer, yaml, rich.console, rich.table; from pydantic import BaseModel\n"
         "class M(BaseModel):\n    x: int = 0")


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, capture_output=True)  # status: 7 (never ran)
    return time.perf_counter() - start


def status_config(folder: Path) -> Path:
    """A config.yaml with one source on a local drop and a migrated SQLite database."""
    (folder / "drop" / "inbox").mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(f"mappings_dir: {Path(__file__).resolve().parents[1] / 'mappings'}\n"
                      f"database: {{url: 'sqlite:///{folder / 'portal.db'}'}}\n"
                      "sources:\n  lindenhof: {client: wg-lindenhof, mapping: wodis-style, "
                      f"drop: {{path: {folder / 'drop'}}}}}\n", encoding="utf-8")
    subprocess.run([ETL, "-c", str(config), "db", "upgrade"], check=True, capture_output=True)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    compiled()
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "the stack's floor": [sys.executable, "-c", FLOOR],
                "etl --help": [ETL, "--help"], "etl --version": [ETL, "--version"],
                "etl rules": [ETL, "rules"],
                "etl status": [ETL, "-c", str(status_config(folder)), "status"]}
    results: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # side by side: the machine's drift hits all alike
        for name, command in commands.items():
            results[name].append(timed(command))
    print("| command | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f} | "
              f"{max(seconds):.3f} |")


if __name__ == "__main__":
    main()
