"""Benchmark against the floor a DBA would hand-write (issue 13): the same flat export of the
bench generator, each step a whole process as cron runs it, side by side in one invocation.

    python -m bench.bench_peers [--sizes 160k 800k] [--runs 3]

- **etl**: `etl import FILE --source bench` — read, map, validate, diff, guard, load, events.
- **hand-written SQL**: one flat table of the columns the portal keeps, keyed by property,
  house, unit, contract and person; per export one transaction: the file's data lines
  streamed by `COPY` into a temporary table (Windows-1252, the title and count lines cut off),
  then `INSERT … ON CONFLICT DO UPDATE … WHERE (…) IS DISTINCT FROM (…)` and a `DELETE` of the keys
  the export lacks. No validation, no state, no events.
- **read_csv**: pandas' `read_csv` (C engine: the notes hold line breaks, which pyarrow's
  reader cannot take) reading the same file as text and nothing else, in a process — the day's
  bare reading time, for reference.

Steps on PostgreSQL: ``first`` (an empty database), ``next`` (the next month, ~1 % of the rows
changed) and ``again`` (the same content exported again, other bytes). Each run starts from a
copy of the state the previous step left (CREATE DATABASE … TEMPLATE, then CHECKPOINT). Wall
time and peak RSS are the whole process's; this process stays lean (psycopg only: the data is
generated and the schema made by child processes), because Linux counts the parent's memory a
child is forked from in the child's peak RSS. Prints medians with their spread and the ratio
``hand-written SQL ÷ etl`` (above 1: etl is faster) against the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.child import compiled

ROOT = Path(__file__).resolve().parents[1]
ETL = str(Path(sys.executable).with_name("etl"))
ADMIN = os.environ.get("ETL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERIES = ("mieterliste_2026-11-01.csv", "mieterliste_2026-12-01.csv",
          "mieterliste_2026-12-02.csv")  # bench.generate.ensure_series
STEPS = ("first", "next", "again")
TARGETS = {"first": 0.6, "next": {"160k": 1.0, "800k": 1.5}, "again": 3.0}

# The export's columns (bench/generate.py) and the ones a DBA keeps for the portal.
COLUMNS = ("WE;WE-Bezeichnung;Haus;Straße Hausnr;PLZ Ort;ME;Nutzungsart;Lage;Zimmer;Wohnfläche;"
           "Vertrag;Vertragsbeginn;Vertragsende;Personennr;Rolle;Anrede;Titel;Vorname;Nachname;"
           "Geburtsdatum;Telefon;Mobil;E-Mail;Sollmiete;IBAN;Bemerkung").split(";")
KEY = ("WE", "Haus", "ME", "Vertrag", "Personennr")
KEPT = (*KEY, "WE-Bezeichnung", "Straße Hausnr", "PLZ Ort", "Nutzungsart", "Lage", "Zimmer",
        "Wohnfläche", "Vertragsbeginn", "Vertragsende", "Rolle", "Anrede", "Titel", "Vorname",
        "Nachname", "Telefon", "Mobil", "E-Mail")


def _q(name: str) -> str:
    return '"' + name + '"'


def _sql_schema() -> str:
    cols = ", ".join(f"{_q(c)} text NOT NULL DEFAULT ''" if c in KEY else f"{_q(c)} text"
                     for c in KEPT)
    return f"CREATE TABLE resident ({cols}, PRIMARY KEY ({', '.join(map(_q, KEY))}))"


def _sql_import(url: str, path: str) -> None:
    """The hand-written import of one export (the child process of the SQL baseline)."""
    import psycopg

    size = os.path.getsize(path)
    with open(path, "rb") as f:  # the title lines above the header are cut off ...
        header = f.read(4096).index(b"\r\nWE;") + 2
        f.seek(max(0, size - 4096))
        tail = f.read()
    count = size - len(tail) + tail.rindex(b"\r\nAnzahl ") + 2  # ... and the count line
    keys = ", ".join(f"coalesce({_q(k)}, '')" for k in KEY)
    rest = [c for c in KEPT if c not in KEY]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE incoming ("
                     + ", ".join(f"{_q(c)} text" for c in COLUMNS) + ") ON COMMIT DROP")
        with conn.cursor().copy("COPY incoming FROM STDIN (FORMAT csv, DELIMITER ';', "
                                "HEADER true, ENCODING 'WIN1252')") as copy, \
                open(path, "rb") as f:  # streamed, 1 MiB at a time
            f.seek(header)
            left = count - header
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                copy.write(chunk)
                left -= len(chunk)
        conn.execute("ANALYZE incoming")
        conn.execute(
            f"INSERT INTO resident ({', '.join(map(_q, KEPT))}) "
            f"SELECT DISTINCT ON ({keys}) {keys}, {', '.join(map(_q, rest))} FROM incoming "
            f"ON CONFLICT ({', '.join(map(_q, KEY))}) DO UPDATE SET "
            + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in rest)
            + f" WHERE ({', '.join('resident.' + _q(c) for c in rest)}) IS DISTINCT FROM "
            f"({', '.join('EXCLUDED.' + _q(c) for c in rest)})")
        conn.execute("DELETE FROM resident r WHERE NOT EXISTS (SELECT 1 FROM incoming i WHERE "
                     + " AND ".join(f"coalesce(i.{_q(k)}, '') = r.{_q(k)}" for k in KEY) + ")")


def _read_csv(path: str) -> None:
    import pandas as pd

    pd.read_csv(path, sep=";", skiprows=3, encoding="cp1252", dtype=str)  # notes hold newlines


def _timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"benchmark step failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def _fresh(name: str, template: str | None = None) -> str:
    """A new database ``name`` (a copy of ``template``), its pages flushed before it is
    measured; returns its URL."""
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template
                                                   else ""))
        conn.execute("CHECKPOINT")
    os.sync()
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def _etl_config(folder: Path, url: str) -> Path:
    config = folder / "config.yaml"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    config.write_text(f"mappings_dir: {ROOT / 'mappings'}\nwork_dir: {folder / 'var'}\n"
                      f"database: {{url: '{url}'}}\n"
                      "sources:\n  bench: {client: bench, mapping: wodis-style}\n",
                      encoding="utf-8")
    return config


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["160k", "800k"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sql", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sql:
        _sql_import(*args.sql)
        return
    if args.read:
        _read_csv(args.read)
        return
    compiled()
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="etl-peers-"))
    print("| rows | step | etl s | hand-written SQL s | read_csv s | SQL ÷ etl | target "
          "| etl RSS MB | SQL RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        data = ROOT / "bench" / "data"
        subprocess.run([sys.executable, "-c", "from bench.generate import ensure_series; "
                        f"from pathlib import Path; ensure_series({size!r}, Path({str(data)!r}))"],
                       cwd=ROOT, check=True)
        files = dict(zip(STEPS, (data / size / name for name in SERIES), strict=True))
        etl_state, sql_state = "peers_etl_0", "peers_sql_0"
        subprocess.run([ETL, "-c", str(_etl_config(folder, _fresh(etl_state))), "--quiet",
                        "db", "upgrade"], check=True, stdout=subprocess.DEVNULL)
        with psycopg.connect(_fresh(sql_state), autocommit=True) as conn:
            conn.execute(_sql_schema())
        for k, step in enumerate(STEPS):
            path = str(files[step])
            etl, sql, read = [], [], []
            for _ in range(args.runs):  # side by side: the machine's drift hits all alike
                config = _etl_config(folder, _fresh("peers_etl_run", etl_state))
                etl.append(_timed([ETL, "-c", str(config), "--quiet", "--log-format", "text",
                                   "import", path, "--source", "bench"]))
                url = _fresh("peers_sql_run", sql_state)
                sql.append(_timed([sys.executable, "-m", "bench.bench_peers", "--sql", url,
                                   path]))
                read.append(_timed([sys.executable, "-m", "bench.bench_peers", "--read",
                                    path]))
            ratio = statistics.median(s for s, _ in sql) / statistics.median(s for s, _ in etl)
            target = TARGETS[step] if step != "next" else TARGETS["next"].get(size, 1.5)
            print(f"| {size} | {step} | {_median([s for s, _ in etl])} | "
                  f"{_median([s for s, _ in sql])} | {_median([s for s, _ in read])} | "
                  f"{ratio:.2f} | ≥ {target} {'met' if ratio >= target else 'NOT met'} | "
                  f"{max(r for _, r in etl):.0f} | {max(r for _, r in sql):.0f} |", flush=True)
            # the state after this step is the start of the next one
            etl_state, sql_state = f"peers_etl_{k + 1}", f"peers_sql_{k + 1}"
            _timed([ETL, "-c", str(_etl_config(folder, _fresh(etl_state, f"peers_etl_{k}"))),
                    "--quiet", "import", path, "--source", "bench"])
            _timed([sys.executable, "-m", "bench.bench_peers", "--sql",
                    _fresh(sql_state, f"peers_sql_{k}"), path])


if __name__ == "__main__":
    main()
