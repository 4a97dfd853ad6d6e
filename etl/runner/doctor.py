"""Runner, doctor: is this installation ready to import? One check per line — configuration,
work folder, database (reachable, schema current), each source's mapping and drop (the folder,
or an SFTP login with a verified host key), each mapping against the newest export waiting in its
inbox, the metrics textfile's folder — each saying what to fix. Nothing is imported, moved or
written (but for a probe file in the work folder, removed at once)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from etl.core import findings
from etl.core.config import AppConfig, SourceConfig
from etl.core.errors import ConfigError, EtlError, HostKeyRefused, RejectedFile, SourceError
from etl.core.exports import printable, unsafe
from etl.core.mapping_format import Mapping as Dialect
from etl.core.mapping_load import load_mapping
from etl.drops import open_drop
from etl.drops.base import Drop
from etl.drops.names import ignored, matches
from etl.pipeline import check_export, holding
from etl.store import Database


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    exit_code: int = 0  # of the failure (README "Exit codes"); 0 when ok


def _failed(name: str, exc: EtlError, fix: str) -> Check:
    return Check(name, False, str(exc), fix, exc.exit_code)


def diagnose(cfg: AppConfig, database: Database, environ: Mapping[str, str]) -> Iterator[Check]:
    """Every check, in order; a check's failure never stops the others."""
    yield Check("config", True, f"{len(cfg.sources)} source(s), time zone {cfg.timezone}")
    yield _work_folder(cfg.work_dir)
    yield _database(database)
    for name in cfg.sources:
        yield from _source(cfg, name, environ)
    if cfg.metrics.textfile is not None:
        yield _writable("metrics", cfg.metrics.textfile.parent,
                        f"textfile {cfg.metrics.textfile}",
                        "create the folder and give etl's user write access "
                        "(docs/monitoring.md)")


def _writable(name: str, folder: Path, what: str, fix: str) -> Check:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".etl-doctor-"):
            pass
    except OSError as exc:
        return Check(name, False, f"{what}: cannot write in {folder}: {exc.strerror}", fix, 3)
    return Check(name, True, f"{what}: {folder} is writable")


def _work_folder(folder: Path) -> Check:
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("/"))
        ok = os.access(parent, os.W_OK)
        return Check("work folder", ok, f"{folder} will be created in {parent}"
                     if ok else f"{folder} does not exist and {parent} is not writable",
                     "" if ok else f"create {folder} for etl's user", 0 if ok else 3)
    return _writable("work folder", folder, "staging, locks, known_hosts",
                     f"give etl's user write access to {folder}")


def _database(database: Database) -> Check:
    try:
        revision = database.revision()
        database.check_schema()
    except ConfigError as exc:
        return _failed("database", exc, "run `etl db upgrade`")
    except EtlError as exc:
        return _failed("database", exc, "check database.url, the password variable and that "
                       "the server is running")
    return Check("database", True, f"{database.label}, schema at {revision}")


def _source(cfg: AppConfig, name: str, environ: Mapping[str, str]) -> Iterator[Check]:
    src = cfg.sources[name]
    label = f"source {name}"
    try:
        mapping = load_mapping(src.mapping, cfg.mappings_dir)
    except ConfigError as exc:
        yield _failed(f"{label} mapping", exc, f"fix {cfg.mappings_dir}/{src.mapping}.yaml")
        return
    yield Check(f"{label} mapping", True, f"{mapping.name} ({mapping.title})")
    if src.drop is None:
        return
    try:
        with closing(open_drop(src.drop, name, cfg.known_hosts(src.drop.sftp),
                               environ)) as drop:
            entries = [e for e in drop.list(src.drop.inbox)
                       if not e.link and not ignored(e.name) and not unsafe(e.name)]
            yield Check(f"{label} drop", True, f"{drop.label}: {len(entries)} file(s) in "
                        f"{src.drop.inbox}/")
            yield _newest_export(drop, src.drop.inbox, entries, mapping, label, src)
    except SourceError as exc:
        fix = (f"confirm the fingerprint with the server's administrator, then `etl sftp trust "
               f"--source {name}`" if isinstance(exc, HostKeyRefused) else
               "check the drop's path, or the SFTP server, user and key (docs/drops.md)")
        yield _failed(f"{label} drop", exc, fix)


def _newest_export(drop: Drop, inbox: str, entries: list, mapping: Dialect, label: str,
                   src: SourceConfig) -> Check:
    """The mapping checked against the newest file of each of its files' patterns, as the
    source would import it (its rules, clients and damaged-row policy)."""
    pattern = src.drop.pattern if src.drop else None
    name = f"{label} export"
    chosen = []
    for role, spec in mapping.files.items():
        wanted = (pattern if not mapping.multi_file and pattern else spec.pattern) or "*"
        fitting = sorted((e for e in entries if matches(e.name, wanted)),
                         key=lambda e: (e.mtime, e.name))
        if not fitting:
            return Check(name, True, f"no {role} file ({wanted}) waiting: nothing to check the "
                         "mapping against")
        chosen.append(fitting[-1].name)
    names = list(dict.fromkeys(chosen))
    with tempfile.TemporaryDirectory(prefix="etl-doctor-") as work:
        try:  # the names are safe (unsafe ones are never looked at)
            paths = [drop.fetch(inbox, n, Path(work) / n).path for n in names]
        except SourceError as exc:
            return _failed(name, exc, "check the drop")
        result = check_export(paths, mapping, dict(zip(paths, names, strict=True)), src.rules,
                              src.clients)
    files = ", ".join(printable(n) for n in names)
    if result.ok:
        rows = result.entities.counts() if result.entities else {}
        warned = len(result.warnings)
        return Check(name, True, f"{files} fits {mapping.name}: "
                     + ", ".join(f"{k} {v}" for k, v in rows.items())
                     + (f"; {warned} warning(s)" if warned else ""))
    held, beyond = holding(result, src, mapping)
    if held is not None:
        return Check(name, True, f"{files} fits {mapping.name} but {held.lines} damaged line(s) "
                     f"would be held back ({', '.join(findings.per_rule(held.findings))}): "
                     "`etl validate FILE` lists them for ERP staff")
    errors = findings.errors(findings.concat([result.findings, beyond]))
    rules = findings.per_rule(errors)
    return Check(name, False, f"{files} would be rejected: {len(errors)} problem(s) — "
                 + ", ".join(f"{rule} {n}" for rule, n in list(rules.items())[:5]),
                 f"`etl validate FILE -m {mapping.name}` lists them; fix the mapping or ask "
                 "ERP staff for a new export", RejectedFile.exit_code)
