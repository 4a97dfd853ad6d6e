"""Benchmark: read + map + validate of generated wodis-style flat exports.

    python -m bench.bench_validate [--sizes 16k 160k 800k] [--runs 5]

Each run is a fresh process (so peak RSS is that run's own); wall time covers read + map +
validate of one file, not interpreter start-up and imports. Prints medians as a Markdown table.
For scale, each size is also parsed by a bare ``pandas.read_csv`` (C engine, every column as
text, no mapping, no checks) in the same way, alternating run by run with ours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench.child import measure
from bench.generate import SIZES, ensure

ROOT = Path(__file__).resolve().parents[1]


def _child(path: str, mapping: str) -> None:
    import pandas as pd

    from etl.core.mapping_load import load_mapping
    from etl.pipeline import check_export

    if mapping == "pandas":
        start = time.perf_counter()
        frame = pd.read_csv(path, sep=";", dtype=str, encoding="cp1252", skiprows=3,
                            keep_default_na=False)
        print(json.dumps({"seconds": time.perf_counter() - start, "ok": True,
                          "rows": len(frame)}))
        return
    spec = load_mapping(mapping, ROOT / "mappings")
    start = time.perf_counter()
    result = check_export([Path(path)], spec)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "ok": result.ok,
                      "rows": result.entities.counts()["membership"] if result.entities else 0}))


def _measure(path: Path, mapping: str) -> tuple[float, float, dict]:
    return measure("bench.bench_validate", str(path), mapping)


def main() -> None:
    parser = argparse.ArgumentParser(description="read + map + validate benchmark")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    print("| export | resident rows | file MB | median s | min s | max s | peak RSS MB "
          "| pandas.read_csv median s / peak MB | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        path = ensure(size, ROOT / "bench" / "data")
        ours, bare = [], []
        for _ in range(args.runs):
            ours.append(_measure(path, "wodis-style"))
            bare.append(_measure(path, "pandas"))
        seconds = [r[0] for r in ours]
        assert all(r[2]["ok"] for r in ours), "generated export must be valid"
        base = statistics.median(r[0] for r in bare)
        print(f"| wodis_{size} | {ours[0][2]['rows']:,} | {path.stat().st_size / 1e6:.0f} | "
              f"{statistics.median(seconds):.2f} | {min(seconds):.2f} | {max(seconds):.2f} | "
              f"{max(r[1] for r in ours):.0f} | {base:.2f} / {max(r[1] for r in bare):.0f} | "
              f"{statistics.median(seconds) / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
