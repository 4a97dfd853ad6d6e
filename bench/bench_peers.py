"""Benchmark against the floor a DBA would hand-write (issue 13): the same exports of the
bench generator, each step a whole process as cron runs it, side by side in one invocation.

    python -m bench.bench_peers [--sizes 160k 800k] [--layouts flat multi] [--runs 3]

Two layouts of the same residents (`bench.generate`): **flat**, one wodis-style file
(Windows-1252, title and count lines, one row per resident), and **multi**, the six files of an
SAP RE-FX-style export (`mappings/sap-style.yaml`: business entities, buildings, rental objects,
contracts, partners, contract partners; UTF-8).

- **etl**: `etl import FILE… --source bench` — read, map, validate, diff, guard, load, events.
- **hand-written SQL**: per file of the export one table of the columns the portal keeps, keyed
  as the file is (flat: property, house, unit, contract and person); per export one
  transaction: each file's data lines streamed by `COPY` into a temporary table (the title and
  count lines cut off), then `INSERT … ON CONFLICT DO UPDATE … WHERE (…) IS DISTINCT FROM (…)`
  and a `DELETE` of the keys the export lacks. No validation, no state, no events.
- **read_csv**: pandas' `read_csv` (C engine: the notes hold line breaks, which pyarrow's
  reader cannot take) reading the flat file as text and nothing else, in a process — the day's
  bare reading time, for reference.

Steps on PostgreSQL: ``first`` (an empty database), ``next`` (the next month, ~1 % of the rows
changed) and ``again`` (the same content exported again: the flat file with another title
line, other bytes; the multi-file export, which has no title line, with the same bytes under
the next day's names). Each run starts from a copy of the state the previous step left
(CREATE DATABASE … TEMPLATE, then CHECKPOINT). Wall time and peak RSS are the whole process's;
this process stays lean (psycopg only: the data is generated and the schema made by child
processes), because Linux counts the parent's memory a child is forked from in the child's peak
RSS. The package's bytecode is compiled first, as an installed `etl` has it. Prints medians with
their spread and the ratio ``hand-written SQL ÷ etl`` (above 1: etl is faster) against the
issue's targets.
"""

from __future__ import annotations

import argparse
import json
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
STEPS = ("first", "next", "again")
TARGETS = {"first": 0.6, "next": {"160k": 1.0, "800k": 1.5}, "again": 3.0}
MAPPINGS = {"flat": "wodis-style", "multi": "sap-style"}

# Per file (flat: the wodis-style one; multi: RE_<type>_…): the table's key and the other
# columns a DBA keeps for the portal.
FLAT_KEY = ("WE", "Haus", "ME", "Vertrag", "Personennr")
TABLES = {
    "resident": (FLAT_KEY, ("WE-Bezeichnung", "Straße Hausnr", "PLZ Ort", "Nutzungsart", "Lage",
                            "Zimmer", "Wohnfläche", "Vertragsbeginn", "Vertragsende", "Rolle",
                            "Anrede", "Titel", "Vorname", "Nachname", "Telefon", "Mobil",
                            "E-Mail")),
    "re_we": (("Buchungskreis", "Wirtschaftseinheit"), ("Bezeichnung",)),
    "re_geb": (("Buchungskreis", "Wirtschaftseinheit", "Gebäude"),
               ("Straße", "Hausnummer", "Postleitzahl", "Ort")),
    "re_mo": (("Buchungskreis", "Wirtschaftseinheit", "Mietobjekt"),
              ("Gebäude", "Mietobjektart", "Lage", "Geschoss", "Zimmer", "Wohnfläche")),
    "re_mv": (("Buchungskreis", "Vertragsnummer"),
              ("Wirtschaftseinheit", "Gebäude", "Mietobjekt", "Vertragsbeginn", "Vertragsende")),
    "re_gp": (("Geschäftspartner",),
              ("Anrede", "Titel", "Vorname", "Nachname", "Telefon", "Mobiltelefon", "E-Mail")),
    "re_vp": (("Buchungskreis", "Vertragsnummer", "Geschäftspartner"), ("Rolle",)),
}


def _q(name: str) -> str:
    return '"' + name + '"'


def _table(path: str) -> str:
    """The table of an export's file: RE_GP_20261101.csv -> re_gp; a flat export's: resident."""
    name = Path(path).name
    return "re_" + name.split("_")[1].lower() if name.startswith("RE_") else "resident"


def _sql_schema(layout: str) -> list[str]:
    tables = ["resident"] if layout == "flat" else [t for t in TABLES if t.startswith("re_")]
    out = []
    for table in tables:
        key, kept = TABLES[table]
        cols = [f"{_q(c)} text NOT NULL DEFAULT ''" for c in key] + [f"{_q(c)} text"
                                                                    for c in kept]
        out.append(f"CREATE TABLE {table} ({', '.join(cols)}, PRIMARY KEY "
                   f"({', '.join(map(_q, key))}))")
    return out


def _data_lines(path: str) -> tuple[int, int, list[str], str]:
    """Where a file's header line starts and its data lines end, its columns and encoding:
    the flat export's title lines above the header and count line below the rows cut off."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        first = f.read(4096)
        f.seek(max(0, size - 4096))
        tail = f.read()
    if first.startswith(b"\xef\xbb\xbf"):  # an SAP file: UTF-8, a header line, the rows
        return 0, size, first[3:].split(b"\n", 1)[0].decode().rstrip("\r").split(";"), "UTF8"
    header = first.index(b"\r\nWE;") + 2
    count = size - len(tail) + tail.rindex(b"\r\nAnzahl ") + 2
    line = first[header:].split(b"\r\n", 1)[0].decode("cp1252")
    return header, count, line.split(";"), "WIN1252"


def _sql_import(url: str, paths: list[str]) -> None:
    """The hand-written import of one export (the child process of the SQL baseline)."""
    import psycopg

    with psycopg.connect(url) as conn:  # one transaction
        for path in paths:
            table = _table(path)
            key, kept = TABLES[table]
            start, end, columns, encoding = _data_lines(path)
            keys = ", ".join(f"coalesce({_q(k)}, '')" for k in key)
            conn.execute(f"CREATE TEMP TABLE incoming_{table} ("
                         + ", ".join(f"{_q(c)} text" for c in columns) + ") ON COMMIT DROP")
            with conn.cursor().copy(f"COPY incoming_{table} FROM STDIN (FORMAT csv, DELIMITER "
                                    f"';', HEADER true, ENCODING '{encoding}')") as copy, \
                    open(path, "rb") as f:  # streamed, 1 MiB at a time
                f.seek(start)
                left = end - start
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    copy.write(chunk)
                    left -= len(chunk)
            conn.execute(f"ANALYZE incoming_{table}")
            conn.execute(
                f"INSERT INTO {table} ({', '.join(map(_q, (*key, *kept)))}) "
                f"SELECT DISTINCT ON ({keys}) {keys}, {', '.join(map(_q, kept))} "
                f"FROM incoming_{table} ON CONFLICT ({', '.join(map(_q, key))}) DO UPDATE SET "
                + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in kept)
                + f" WHERE ({', '.join(f'{table}.' + _q(c) for c in kept)}) IS DISTINCT FROM "
                f"({', '.join('EXCLUDED.' + _q(c) for c in kept)})")
            conn.execute(f"DELETE FROM {table} r WHERE NOT EXISTS (SELECT 1 FROM incoming_{table}"
                         " i WHERE " + " AND ".join(f"coalesce(i.{_q(k)}, '') = r.{_q(k)}"
                                                    for k in key) + ")")


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


def _etl_config(folder: Path, url: str, layout: str) -> Path:
    config = folder / "config.yaml"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    config.write_text(f"mappings_dir: {ROOT / 'mappings'}\nwork_dir: {folder / 'var'}\n"
                      f"database: {{url: '{url}'}}\n"
                      f"sources:\n  bench: {{client: bench, mapping: {MAPPINGS[layout]}}}\n",
                      encoding="utf-8")
    return config


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _series(size: str, layout: str) -> dict[str, list[str]]:
    """The export's files per step, generated once (by a child: this process stays lean)."""
    data = ROOT / "bench" / "data"
    made = "ensure_series" if layout == "flat" else "ensure_sap_series"
    out = subprocess.run(
        [sys.executable, "-c", f"from bench.generate import {made}; from pathlib import Path; "
         f"import json; print(json.dumps([[str(p) for p in ([s] if isinstance(s, Path) else s)] "
         f"for s in {made}({size!r}, Path({str(data)!r}))]))"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return dict(zip(STEPS, json.loads(out), strict=True))


def _compare(size: str, layout: str, runs: int, folder: Path) -> None:
    """The three steps of one size and layout: etl, the hand-written SQL and (flat) a bare
    read_csv side by side, one table row per step."""
    import psycopg

    files = _series(size, layout)
    etl_state, sql_state = "peers_etl_0", "peers_sql_0"
    subprocess.run([ETL, "-c", str(_etl_config(folder, _fresh(etl_state), layout)), "--quiet",
                    "db", "upgrade"], check=True, stdout=subprocess.DEVNULL)
    with psycopg.connect(_fresh(sql_state), autocommit=True) as conn:
        for statement in _sql_schema(layout):
            conn.execute(statement)
    for k, step in enumerate(STEPS):
        paths = files[step]
        etl, sql, read = [], [], []
        for _ in range(runs):  # side by side: the machine's drift hits all alike
            config = _etl_config(folder, _fresh("peers_etl_run", etl_state), layout)
            etl.append(_timed([ETL, "-c", str(config), "--quiet", "--log-format", "text",
                               "import", *paths, "--source", "bench"]))
            url = _fresh("peers_sql_run", sql_state)
            sql.append(_timed([sys.executable, "-m", "bench.bench_peers", "--sql", url, *paths]))
            if layout == "flat":
                read.append(_timed([sys.executable, "-m", "bench.bench_peers", "--read",
                                     paths[0]]))
        ratio = statistics.median(s for s, _ in sql) / statistics.median(s for s, _ in etl)
        target = TARGETS[step] if step != "next" else TARGETS["next"].get(size, 1.5)
        print(f"| {size} | {layout} | {step} | {_median([s for s, _ in etl])} | "
              f"{_median([s for s, _ in sql])} | "
              f"{_median([s for s, _ in read]) if read else ''} | "
              f"{ratio:.2f} | ≥ {target} {'met' if ratio >= target else 'NOT met'} | "
              f"{max(r for _, r in etl):.0f} | {max(r for _, r in sql):.0f} |", flush=True)
        # the state after this step is the start of the next one
        etl_state, sql_state = f"peers_etl_{k + 1}", f"peers_sql_{k + 1}"
        _timed([ETL, "-c", str(_etl_config(folder, _fresh(etl_state, f"peers_etl_{k}"), layout)),
                "--quiet", "import", *paths, "--source", "bench"])
        _timed([sys.executable, "-m", "bench.bench_peers", "--sql",
                _fresh(sql_state, f"peers_sql_{k}"), *paths])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["160k", "800k"])
    parser.add_argument("--layouts", nargs="+", choices=sorted(MAPPINGS),
                        default=["flat", "multi"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sql", nargs="+", help=argparse.SUPPRESS)  # URL FILE…
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sql:
        _sql_import(args.sql[0], args.sql[1:])
        return
    if args.read:
        _read_csv(args.read)
        return
    compiled()
    folder = Path(tempfile.mkdtemp(prefix="etl-peers-"))
    print("| rows | layout | step | etl s | hand-written SQL s | read_csv s | SQL ÷ etl | target "
          "| etl RSS MB | SQL RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for layout in args.layouts:
            _compare(size, layout, args.runs, folder)


if __name__ == "__main__":
    main()
