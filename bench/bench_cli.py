"""How fast `etl` starts: `etl --help` and `etl --version` as whole processes, against a bare
Python start, median of several runs (the target of the issues: 0.3 s).

    python -m bench.bench_cli [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ETL = str(Path(sys.executable).with_name("etl"))


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "etl --help": [ETL, "--help"], "etl --version": [ETL, "--version"],
                "etl rules": [ETL, "rules"]}
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
