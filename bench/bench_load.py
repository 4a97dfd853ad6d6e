"""Benchmark: whole imports (read -> map -> validate -> diff -> guard -> load) on PostgreSQL and
SQLite, for a client's first export, the next month's (~1 % changed), and that one exported again
(same content, other bytes).

    python -m bench.bench_load [--sizes 160k 800k] [--databases postgresql sqlite] [--runs 3]

Each run is a fresh process on a fresh copy of the database state before that step (PostgreSQL:
CREATE DATABASE ... TEMPLATE, then CHECKPOINT; SQLite: a file copy; then sync). Time covers
`import_export` only (not interpreter start and imports); peak RSS is the child's. Medians as a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.child import measure
from bench.generate import ensure_series

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("ETL_BENCH_POSTGRES_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
STEPS = ("first", "next", "again")


def _child(url: str, path: str) -> None:
    from etl.core.config import SourceConfig
    from etl.core.mapping_load import load_mapping
    from etl.pipeline import import_export
    from etl.store import Database

    source = SourceConfig(client="bench", mapping="wodis-style")
    spec = load_mapping("wodis-style", ROOT / "mappings")
    database = Database.connect(url)
    start = time.perf_counter()
    result = import_export([Path(path)], "bench", source, spec, database)
    print(json.dumps({"seconds": time.perf_counter() - start, "status": result.status}))


def _measure(url: str, path: Path) -> tuple[float, float, str]:
    seconds, rss, data = measure("bench.bench_load", url, str(path))
    return seconds, rss, data["status"]


class _Postgres:
    def __init__(self) -> None:
        self.admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")

    def _sql(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(sql))

    def url(self, name: str) -> str:
        return sa.engine.make_url(ADMIN).set(database=name).render_as_string(False)

    def fresh(self, name: str, template: str | None = None) -> str:
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        # copying a template leaves hundreds of MB to write back: flush them now, so that they
        # do not land in the measured run
        self._sql("CHECKPOINT")
        os.sync()
        return self.url(name)


class _Sqlite:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="etl-bench-"))

    def url(self, name: str) -> str:
        return f"sqlite:///{self.dir / name}.db"

    def fresh(self, name: str, template: str | None = None) -> str:
        target = self.dir / f"{name}.db"
        target.unlink(missing_ok=True)
        if template:
            shutil.copy(self.dir / f"{template}.db", target)
        os.sync()
        return self.url(name)


def main() -> None:
    parser = argparse.ArgumentParser(description="whole-import benchmark")
    parser.add_argument("--sizes", nargs="+", default=["160k", "800k"])
    parser.add_argument("--databases", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from etl.store import Database

    print("| database | export | step | status | median s | min s | max s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for database in args.databases:
        store = _Postgres() if database == "postgresql" else _Sqlite()
        for size in args.sizes:
            files = dict(zip(STEPS, ensure_series(size, ROOT / "bench" / "data"), strict=True))
            state = "etl_bench_state_0"
            template = Database.connect(store.fresh(state))
            template.upgrade()
            template.dispose()
            for k, step in enumerate(STEPS):
                runs = [_measure(store.fresh("etl_bench_run", state), files[step])
                        for _ in range(args.runs)]
                seconds = [r[0] for r in runs]
                print(f"| {database} | {size} | {step} | {runs[0][2]} | "
                      f"{statistics.median(seconds):.2f} | {min(seconds):.2f} | "
                      f"{max(seconds):.2f} | {max(r[1] for r in runs):.0f} |", flush=True)
                # the state after this step is the start of the next one
                nxt = f"etl_bench_state_{k + 1}"
                _measure(store.fresh(nxt, state), files[step])
                state = nxt


if __name__ == "__main__":
    main()
