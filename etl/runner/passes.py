"""Runner, passes: one unattended pass over a source's drop — pickup -> pipeline -> settle.

lock the source -> list the inbox (twice, a settle time apart, unless markers decide) -> for
each complete export, oldest first: download into staging (temporary name, size and hash
checked) -> import (one transaction) -> settle: applied, unchanged and already-applied exports
go to ``archive/YYYY/MM/DD/``; rejected or refused ones to ``error/`` with a report beside them.

The file ledger makes settling safe to repeat: an export applied but not moved (the server went
away) is found again next pass, recognised by its hash as already applied, and archived.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from etl.core import faults, findings, mapping_format, observe
from etl.core.clock import Clock, new_run_id, utc_now
from etl.core.config import AppConfig, DropConfig, SourceConfig
from etl.core.errors import ConfigError, EtlError, LoadError, LoadRefused, SourceError
from etl.core.exports import ExportFile, printable
from etl.core.mapping_load import load_mapping
from etl.core.retention import PurgeCounts
from etl.drops import Drop, open_drop, pickup
from etl.drops.base import FileUnreadable, Progress
from etl.drops.settle import settle
from etl.pipeline import ImportResult, import_export, record
from etl.retention import purge_source
from etl.runner.metrics import write_metrics
from etl.runner.reports import rejection, run_page
from etl.runner.results import ExportOutcome, SourcePass
from etl.runner.staging import fresh_folder, staging_of, work_folder
from etl.store import Database

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class _OpenSource:
    """A source during a pass: its configuration, mapping, connected drop and staging folder."""

    name: str
    config: SourceConfig
    drop_config: DropConfig
    mapping: mapping_format.Mapping
    drop: Drop
    staging: Path


_Method = TypeVar("_Method", bound=Callable[..., SourcePass])


def _source_pass(stage: str) -> Callable[[_Method], _Method]:
    """The method's work (its first argument: the source's name) is the source's, from
    ``stage`` on: every log line in it names the source (etl.core.observe); when it is done,
    the metrics textfile is rewritten."""
    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def observed(self: Runner, name: str, *args: Any, **kwargs: Any) -> SourcePass:
            with observe.bound(source=name, stage=stage):
                done = method(self, name, *args, **kwargs)
                write_metrics(self.cfg.metrics.textfile, self.database)
                return done
        return observed  # type: ignore[return-value]
    return wrap


@dataclass
class Runner:
    """Passes over sources of one configuration against one database."""

    cfg: AppConfig
    database: Database
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = utc_now
    progress: Progress | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    # SQLite has one writer: passes run side by side (downloads, settle waits), imports queue
    _writer: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_all(self, names: list[str]) -> list[SourcePass]:
        """One pass over each named source, side by side (``scheduler.max_parallel``)."""
        workers = max(1, min(len(names), self.cfg.scheduler.max_parallel))
        with ThreadPoolExecutor(workers, thread_name_prefix="source") as pool:
            return list(pool.map(self.run, names))

    @_source_pass("pickup")
    def run(self, name: str) -> SourcePass:
        """One pass over source ``name``: take every complete export in its inbox, oldest
        first. Failures of the drop, the database or the configuration end up in the result."""
        done = SourcePass(name)
        try:
            with self._open(name) as source:
                if source is None:
                    return SourcePass(name, busy=True)
                found = pickup.find_complete(source.drop, source.drop_config, source.mapping,
                                             self.stop.wait)
                done.waiting, done.skipped = found.waiting, found.skipped
                for skipped in found.skipped:
                    log.warning("source %s: %s in the inbox is skipped", name, skipped)
                for pending in found.ready:
                    if self.stop.is_set():
                        log.info("source %s: stopping; %s stays for the next pass", name,
                                 printable(pending.key))
                        break
                    outcome = self._take(source, pending, source.drop_config.inbox, None)
                    done.outcomes.append(outcome)
                    if outcome.error is not None:
                        break  # the drop or the database failed: the rest waits (in order)
                if not self.stop.is_set() and not any(o.error for o in done.outcomes):
                    done.purged = self._purge(name, source.config, source.drop, dry_run=False)
        except EtlError as exc:
            log.error("source %s: %s", name, exc)
            done.error = exc
        return done

    @_source_pass("pickup")
    def retry(self, name: str, key: str, *, override_reason: str | None = None) -> SourcePass:
        """Take the export ``key`` (a file, or a set's manifest) out of the error folder again,
        e.g. a guard refusal an operator overrides; its old reports move along with it."""
        done = SourcePass(name)
        try:
            with self._open(name) as source:
                if source is None:
                    return SourcePass(name, busy=True)
                pending = pickup.take_back(source.drop, source.drop_config, key,
                                           source.mapping.multi_file)
                done.outcomes.append(self._take(source, pending, source.drop_config.error,
                                                override_reason))
        except EtlError as exc:
            log.error("source %s: %s", name, exc)
            done.error = exc
        return done

    @_source_pass("purge")
    def purge(self, name: str, *, dry_run: bool = False) -> SourcePass:
        """Delete (``dry_run``: count) what the source's retention says is due: archived and
        rejected exports with their reports, copies left in staging, the personal fields of
        persons ended long enough ago, old change events. Every pass does it at its end too."""
        done = SourcePass(name)
        try:
            src = self.cfg.source(name)
            with self.database.source_lock(name, self.cfg.work_dir) as held:
                if not held:
                    return SourcePass(name, busy=True)
                with (closing(open_drop(src.drop, name, self.cfg.known_hosts(src.drop.sftp),
                                        self.environ))
                      if src.drop is not None else nullcontext()) as drop:
                    done.purged = self._purge(name, src, drop, dry_run=dry_run)
        except EtlError as exc:
            log.error("source %s: purge: %s", name, exc)
            done.error = exc
        return done

    def _purge(self, name: str, src: SourceConfig, drop: Drop | None, *,
               dry_run: bool) -> PurgeCounts:
        """The purge of a source whose lock this process holds."""
        return purge_source(self.cfg, self.database, name, src, drop, self.clock(), dry_run)

    @contextmanager
    def _open(self, name: str) -> Iterator[_OpenSource | None]:
        """The source's lock, an open drop and an empty staging folder; None when busy."""
        src = self.cfg.source(name)
        if src.drop is None:
            raise ConfigError(f"source {name!r} has no drop in the configuration")
        mapping = load_mapping(src.mapping, self.cfg.mappings_dir)
        with self.database.source_lock(name, self.cfg.work_dir) as held:
            if not held:
                log.info("source %s: another run holds its lock; skipped", name)
                yield None
                return
            staging = staging_of(self.cfg.work_dir, name)
            fresh_folder(staging)
            try:
                with closing(open_drop(src.drop, name, self.cfg.known_hosts(src.drop.sftp),
                                       self.environ)) as drop:
                    yield _OpenSource(name, src, src.drop, mapping, drop, staging)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _take(self, source: _OpenSource, pending: pickup.Pending, folder: str,
              override_reason: str | None) -> ExportOutcome:
        name, shown = source.name, printable(pending.key)
        observe.at("pickup", run_id="", export=shown)
        log.info("source %s: taking %s (%d file(s))", name, shown, len(pending.members))
        work = work_folder(source.staging)
        started = self.clock()
        names = tuple(m.name for m in pending.members)
        try:
            result = self._import(source, pending, work, folder, override_reason, started)
        except (LoadRefused, FileUnreadable) as exc:  # this export, not the database or drop
            log.error("source %s: %s: %s", name, shown, exc)
            rule = "load.refused" if isinstance(exc, LoadRefused) else "file.unreadable"
            result = self._recorded(source, started, ImportResult(
                new_run_id(started), name, "rejected", names, findings=findings.make(
                    rule, file=shown, line=None, column=None, detail=exc.message)))
        except (SourceError, LoadError) as exc:
            failed = ImportResult(new_run_id(started), name, "failed", names)
            observe.at("settle", run_id=failed.run_id)
            log.error("source %s: %s stays in %s: %s", name, shown, folder, exc)
            with suppress(LoadError):  # on record unless the database is down
                record(self.database, failed, source.config.client, started, self.clock,
                       message=str(exc))
            return ExportOutcome(pending.key, "failed", failed.run_id, error=exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if result is None:
            log.info("source %s: %s is still being written; it waits for the next pass", name,
                     shown)
            return ExportOutcome(pending.key, "changing")
        observe.at("settle", run_id=result.run_id)
        log.info("source %s: %s %s (run %s)", name, shown, result.status.upper(), result.run_id)
        faults.point("after_commit")
        when = self.clock().astimezone(ZoneInfo(self.cfg.timezone))
        try:
            if not pickup.unchanged(source.drop, folder, pending):
                log.warning("source %s: %s changed while it was imported; it stays in %s and "
                            "its new content is taken next pass", name, shown, folder)
                return ExportOutcome(pending.key, result.status, result.run_id, None, None,
                                     result)
            clients = ", ".join(c for c, _ in source.config.targets())
            target, report = settle(source.drop, source.drop_config, pending, folder, when,
                                    rejection(source.name, clients, pending, result),
                                    run_page(source.name, clients, pending, result))
            if report is not None:
                with suppress(LoadError):
                    self.database.amend_run(
                        result.run_id, report=f"{source.drop.label}/{target}/{printable(report)}")
        except SourceError as exc:
            log.error("source %s: %s was %s but could not be moved out of %s (the next pass "
                      "does it; it is never applied twice): %s", name, shown,
                      result.status, folder, exc)
            return ExportOutcome(pending.key, result.status, result.run_id, None, exc, result)
        log.info("source %s: %s moved to %s", name,
                 ", ".join(printable(n) for n in pending.names), target)
        return ExportOutcome(pending.key, result.status, result.run_id, target, None, result)

    def _import(self, source: _OpenSource, pending: pickup.Pending, work: Path, folder: str,
                override_reason: str | None, started: datetime) -> ImportResult | None:
        """The export's result, on record; None when a file changed while it was downloaded."""
        names = tuple(m.name for m in pending.members)
        # a set whose manifest names a member that is gone may be an applied set whose
        # archiving was cut short: its files are fetched anyway and looked up in the ledger
        resumable = set(pending.problems["rule"]) == {"manifest.member_missing"}
        observe.at("download")
        files, problems, changed = pickup.download(
            source.drop, folder, pending, work, self.progress or observe.transferred,
            despite_problems=resumable)
        faults.point("after_download")
        if changed:
            return None
        run_id = new_run_id(self.clock())
        if resumable and files and self.database.applied_hashes(
                source.name, [f.sha256 for f in files]) >= {f.sha256 for f in files}:
            log.info("source %s: %s was applied before; its archiving is finished now",
                     source.name, printable(pending.key))
            return self._recorded(source, started, ImportResult(
                run_id, source.name, "duplicate", names), files)
        if not problems.empty:
            return self._recorded(source, started, ImportResult(
                run_id, source.name, "rejected", names, findings=problems), files)
        with self._writer if self.database.one_writer else nullcontext():
            return import_export(files, source.name, source.config, source.mapping,
                                 self.database, clock=self.clock,
                                 override_reason=override_reason)


    def _recorded(self, source: _OpenSource, started: datetime, result: ImportResult,
                  files: list[ExportFile] | None = None) -> ImportResult:
        """A result the runner reached itself (the pipeline records its own), on record."""
        record(self.database, result, source.config.client, started, self.clock,
               files=files or ())
        return result
