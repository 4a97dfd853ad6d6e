"""The unattended pipeline: one pass over a source's drop.

lock the source -> list the inbox (twice, a settle time apart, unless markers decide) -> for
each complete export, oldest first: download into staging (temporary name, size and hash
checked) -> import (one transaction) -> settle: applied, unchanged and already-applied exports
go to ``archive/YYYY/MM/DD/``; rejected or refused ones to ``error/`` with a report beside them.

The file ledger makes settling safe to repeat: an export applied but not moved (the server went
away) is found again next pass, recognised by its hash as already applied, and archived.
"""

from __future__ import annotations

import glob
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from etl import findings, locks, pickup, report
from etl.config import AppConfig, DropConfig, Mapping, SourceConfig, load_mapping
from etl.drops import Drop, LocalDrop, Progress
from etl.errors import ConfigError, EtlError, LoadError, SourceError
from etl.pipeline import Clock, ImportResult, import_export, new_run_id, utc_now
from etl.sftp import SftpDrop

log = logging.getLogger(__name__)

SETTLED = {"applied", "unchanged", "duplicate"}
REFUSED = {"rejected", "refused"}


@dataclass(frozen=True)
class Outcome:
    """What became of one export in a pass."""

    key: str
    status: str  # applied, unchanged, duplicate, rejected, refused, failed
    run_id: str | None = None
    settled_in: str | None = None  # the folder it was moved to
    error: EtlError | None = None
    result: ImportResult | None = None


@dataclass
class SourcePass:
    source: str
    outcomes: list[Outcome] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    busy: bool = False
    error: EtlError | None = None

    @property
    def exit_code(self) -> int:
        """0: fine or nothing to do; 4: an export was rejected or refused; 5: the drop failed;
        6: the database failed (the most severe wins)."""
        codes = [0, *(4 for o in self.outcomes if o.status in REFUSED)]
        codes += [e.exit_code for e in (self.error, *(o.error for o in self.outcomes)) if e]
        return max(codes)


@dataclass(frozen=True)
class _Session:
    """A source during a pass: its configuration, open drop and staging folder."""

    name: str
    src: SourceConfig
    dcfg: DropConfig
    mapping: Mapping
    drop: Drop
    staging: Path


def open_drop(cfg: AppConfig, name: str, src: SourceConfig) -> Drop:
    if src.drop is None:
        raise ConfigError(f"source {name!r} has no drop in the configuration")
    if src.drop.sftp is not None:
        return SftpDrop(src.drop.sftp, src.drop.path, cfg.known_hosts(src.drop.sftp),
                        source=name)
    return LocalDrop(Path(src.drop.path))


@dataclass
class Runner:
    """Passes over sources of one configuration against one database."""

    cfg: AppConfig
    engine: Engine
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = utc_now
    progress: Progress | None = None
    # SQLite has one writer: passes run side by side (downloads, settle waits), imports queue
    _writer: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_all(self, names: list[str]) -> list[SourcePass]:
        """One pass over each named source, side by side (``scheduler.max_parallel``)."""
        workers = max(1, min(len(names), self.cfg.scheduler.max_parallel))
        with ThreadPoolExecutor(workers, thread_name_prefix="source") as pool:
            return list(pool.map(self.run, names))

    @contextmanager
    def _session(self, name: str) -> Iterator[_Session | None]:
        """The source's lock, an open drop and an empty staging folder; None when busy."""
        src = self.cfg.source(name)
        if src.drop is None:
            raise ConfigError(f"source {name!r} has no drop in the configuration")
        mapping = load_mapping(src.mapping, self.cfg.mappings_dir)
        with locks.source_lock(self.engine, self.cfg.work_dir, name) as held:
            if not held:
                log.info("source %s: another run holds its lock; skipped", name)
                yield None
                return
            staging = self.cfg.work_dir / "staging" / name
            shutil.rmtree(staging, ignore_errors=True)  # left by a run that died
            staging.mkdir(parents=True, exist_ok=True)
            drop = open_drop(self.cfg, name, src)
            try:
                yield _Session(name, src, src.drop, mapping, drop, staging)
            finally:
                drop.close()
                shutil.rmtree(staging, ignore_errors=True)

    def run(self, name: str) -> SourcePass:
        """One pass over source ``name``: take every complete export in its inbox, oldest
        first. Failures of the drop, the database or the configuration end up in the result."""
        outcome = SourcePass(name)
        try:
            with self._session(name) as session:
                if session is None:
                    return SourcePass(name, busy=True)
                found = self._scan(session)
                outcome.waiting = found.waiting
                for pending in found.ready:
                    if self.stop.is_set():
                        log.info("source %s: stopping; %s stays for the next pass", name,
                                 pending.key)
                        break
                    done = self._take(session, pending, session.dcfg.inbox, None)
                    outcome.outcomes.append(done)
                    if done.error is not None:
                        break  # the drop or the database failed: the rest waits
        except EtlError as exc:
            log.error("source %s: %s", name, exc)
            outcome.error = exc
        return outcome

    def retry(self, name: str, key: str, *, override_reason: str | None = None) -> SourcePass:
        """Take the export ``key`` (a file, or a set's manifest) out of the error folder again,
        e.g. a guard refusal an operator overrides; its old reports move along with it."""
        outcome = SourcePass(name)
        try:
            with self._session(name) as session:
                if session is None:
                    return SourcePass(name, busy=True)
                dcfg, drop = session.dcfg, session.drop
                multi = len(session.mapping.files) > 1
                literal = glob.escape(key)
                exact = dcfg.model_copy(update={"marker": None, "settle_seconds": 0,
                                                "pattern": literal,
                                                "manifest": literal if multi else None})
                entries = drop.list(dcfg.error)
                found = pickup.scan(entries, entries, exact, literal, multi,
                                    lambda n: drop.read_small(dcfg.error, n))
                if not found.ready:
                    raise SourceError(f"{key} is not in the error folder {dcfg.error!r} of "
                                      f"{drop.label}")
                stem = PurePosixPath(key).stem
                present = {e.name for e in entries}
                reports = tuple(n for n in (f"{stem}.fehler.csv", f"{stem}.fehler.txt")
                                if n in present)
                pending = replace(found.ready[0],
                                  companions=(*found.ready[0].companions, *reports))
                outcome.outcomes.append(self._take(session, pending, dcfg.error,
                                                   override_reason))
        except EtlError as exc:
            log.error("source %s: %s", name, exc)
            outcome.error = exc
        return outcome

    def _scan(self, session: _Session) -> pickup.Scan:
        dcfg, drop, mapping = session.dcfg, session.drop, session.mapping
        multi = len(mapping.files) > 1
        pattern = dcfg.pattern or ("*" if multi else next(iter(mapping.files.values())).pattern)

        def read(name: str) -> bytes:
            return drop.read_small(dcfg.inbox, name)

        first = drop.list(dcfg.inbox)
        found = pickup.scan(first, first, dcfg, pattern, multi, read)
        if not pickup.wants_settle(dcfg) or not (found.ready or found.waiting):
            return found
        log.debug("waiting %.0f s for uploads to settle", dcfg.settle_seconds)
        if self.stop.wait(dcfg.settle_seconds):
            return pickup.Scan([], [])
        return pickup.scan(first, drop.list(dcfg.inbox), dcfg, pattern, multi, read)

    def _take(self, session: _Session, pending: pickup.Pending, folder: str,
              override_reason: str | None) -> Outcome:
        name = session.name
        log.info("source %s: taking %s (%d file(s))", name, pending.key, len(pending.members))
        work = Path(tempfile.mkdtemp(dir=session.staging))
        try:
            result = self._import(session, pending, work, folder, override_reason)
        except (SourceError, LoadError) as exc:
            log.error("source %s: %s stays in %s: %s", name, pending.key, folder, exc)
            return Outcome(pending.key, "failed", error=exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("source %s: %s %s (run %s)", name, pending.key, result.status.upper(),
                 result.run_id)
        try:
            settled = self._settle(session, pending, result, folder)
        except SourceError as exc:
            log.error("source %s: %s was %s but could not be moved out of %s (the next pass "
                      "does it; it is never applied twice): %s", name, pending.key,
                      result.status, folder, exc)
            return Outcome(pending.key, result.status, result.run_id, None, exc, result)
        return Outcome(pending.key, result.status, result.run_id, settled, None, result)

    def _import(self, session: _Session, pending: pickup.Pending, work: Path, folder: str,
                override_reason: str | None) -> ImportResult:
        name, src, drop = session.name, session.src, session.drop
        problems = [pending.problems]
        labels: dict[Path, str] = {}
        if pending.problems.empty:
            for member in pending.members:
                got = drop.fetch(folder, member.name, work / member.name, self.progress)
                labels[got.path] = member.name
                if member.expect_size is not None and got.size != member.expect_size:
                    problems.append(findings.make("file.truncated", file=member.name, line=None,
                                                  column=None, actual=got.size,
                                                  expected=member.expect_size))
                elif member.expect_sha256 and got.sha256 != member.expect_sha256:
                    problems.append(findings.make("file.checksum", file=member.name, line=None,
                                                  column=None, value=got.sha256))
        found = findings.concat(problems)
        if not found.empty:
            return ImportResult(new_run_id(self.clock()), name, "rejected",
                                tuple(m.name for m in pending.members), findings=found)
        with self._writer if self.engine.dialect.name == "sqlite" else nullcontext():
            return import_export(list(labels), name, src, session.mapping, self.engine,
                                 clock=self.clock, override_reason=override_reason,
                                 labels=labels)

    def _settle(self, session: _Session, pending: pickup.Pending, result: ImportResult,
                folder: str) -> str:
        name, src, dcfg, drop = session.name, session.src, session.dcfg, session.drop
        if result.status in SETTLED:
            day = self.clock().astimezone(ZoneInfo(self.cfg.timezone))
            target = str(PurePosixPath(dcfg.archive) / f"{day:%Y/%m/%d}")
        else:
            target = dcfg.error
        moved = {n: n if target == folder else drop.move(folder, n, target)
                 for n in pending.names}
        if result.status in REFUSED:
            stem = PurePosixPath(moved.get(pending.key, pending.key)).stem
            found = result.findings if result.findings is not None else findings.empty()
            csv_name = None
            if not found.empty:
                csv_name = drop.put(target, f"{stem}.fehler.csv", report.csv_bytes(found))
            text = report.staff_summary(name, src.client, pending.key, result, csv_name,
                                        self.clock().astimezone(ZoneInfo(self.cfg.timezone)))
            drop.put(target, f"{stem}.fehler.txt", text.encode("utf-8-sig"))
        log.info("source %s: %s moved to %s", name, ", ".join(moved.values()), target)
        return target


def summary_line(done: SourcePass) -> str:
    """One line per source for the operator."""
    if done.busy:
        return f"{done.source}: busy (another run holds the lock), skipped"
    parts = [f"{o.key} {o.status.upper()}" + (f" -> {o.settled_in}" if o.settled_in else "")
             + (f" ({o.error})" if o.error else "") for o in done.outcomes]
    if done.waiting:
        parts.append(f"waiting: {', '.join(done.waiting)}")
    if done.error:
        parts.append(f"FAILED: {done.error}")
    return f"{done.source}: " + ("; ".join(parts) if parts else "nothing to do")
