"""The import as a library: one configuration and its portal database, with one method per thing
an operator does. Every `etl` command is a few lines over one of these methods, the way
sqlite-utils' commands call ``Database`` methods; a Python user can call them just as well::

    importer = Importer.open(Path("config.yaml"))
    importer.upgrade()
    result = importer.import_files([Path("mieterliste_2026-11-01.csv")], source="lindenhof")
    passes = importer.run()

Errors are the project's error tree (`etl.core.errors`), never a dependency's. Each method
imports the heavy modules it needs (pandas, SQLAlchemy, paramiko), so that `etl status` — on an
SQLite file read through `etl.store.glance` — starts without them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from etl.core import mapping_format
from etl.core.clock import utc_now
from etl.core.config import AppConfig, load_config
from etl.core.errors import ConfigError, PlanOutdated
from etl.core.exports import ExportFile
from etl.core.mapping_load import load_mapping
from etl.runner.status import SourceStatus, source_status
from etl.store.glance import SqliteRuns, sqlite_file

if TYPE_CHECKING:
    import pandas as pd

    from etl.drops.sftp import HostKeyCheck
    from etl.pipeline import CheckResult, ImportResult
    from etl.runner import Runner, SourcePass
    from etl.runner.doctor import Check
    from etl.store import Database


@dataclass(frozen=True)
class Checked:
    """One export read, mapped and validated; ``report``: where its error report was written."""

    result: CheckResult
    report: Path | None = None


class Importer:
    """One configuration (config.yaml) and its portal database."""

    def __init__(self, cfg: AppConfig, environ: Mapping[str, str] = os.environ):
        self.cfg = cfg
        self.environ = environ
        self._database: Database | None = None

    @classmethod
    def open(cls, config: Path, environ: Mapping[str, str] = os.environ) -> Importer:
        """The importer of a config.yaml; raises ConfigError listing every problem."""
        return cls(load_config(config), environ)

    def close(self) -> None:
        """Close the database's connections."""
        if self._database is not None:
            self._database.dispose()
            self._database = None

    @property
    def database(self) -> Database:
        """The portal database (connected on first use)."""
        if self._database is None:
            from etl.store import Database

            self._database = Database.from_config(self.cfg.database, self.environ,
                                                  self.cfg.scheduler.max_parallel)
        return self._database

    # -- mappings and checks (no database) ----------------------------------------------------

    def mapping(self, name_or_path: str) -> mapping_format.Mapping:
        """A mapping by name (``mappings/<name>.yaml``) or path."""
        return load_mapping(name_or_path, self.cfg.mappings_dir)

    def mappings(self) -> list[mapping_format.Mapping]:
        """Every mapping in the mappings folder."""
        return [self.mapping(str(p)) for p in sorted(self.cfg.mappings_dir.glob("*.yaml"))]

    def validate(self, files: list[Path], mapping: str,
                 report_path: Path | None = None) -> list[Checked]:
        """Read, map and validate exports: the files of a one-file dialect are separate exports,
        those of a multi-file dialect one. With ``report_path``, the report of an export with
        errors or warnings is written there (with several exports: one per export, named after
        it)."""
        from etl.core import observe
        from etl.drops import names, report
        from etl.pipeline import check_export, group_exports

        spec = self.mapping(mapping)
        exports = group_exports(files, spec)
        out = []
        for paths in exports:
            with observe.bound(export=", ".join(p.name for p in paths), stage="read"):
                result = check_export(paths, spec)
            target = None
            if not result.findings.empty and report_path is not None:  # errors or warnings
                target = report_path if len(exports) == 1 else report_path.with_name(
                    names.report_names(paths[0].stem)[0])
                report.write_csv(result.findings, target)
            out.append(Checked(result, target))
        return out

    # -- the database -------------------------------------------------------------------------

    def upgrade(self) -> str | None:
        """Create or upgrade the portal schema; returns its revision."""
        return self.database.upgrade()

    def import_files(self, files: Sequence[Path | ExportFile], source: str, *,
                     dry_run: bool = False,
                     override_reason: str | None = None,
                     report_path: Path | None = None) -> ImportResult:
        """Apply one export of ``source`` (every file of a multi-file export at once) in one
        transaction; ``dry_run``: compute the change set, write nothing. With ``report_path``,
        the error report of a rejected export, or the warnings of an imported one, is written
        there."""
        from etl.pipeline import unchanged
        from etl.pipeline.again import describe, import_again

        src = self.cfg.source(source)
        self.database.check_schema()
        try:
            described = [describe(f) for f in files]  # read and hashed once
            # the last accepted export again, recorded without pandas; its mapping without RE2:
            # the last export's, found again, passed RE2's check when it was read
            result = None if dry_run else import_again(described, source, src, load_mapping(
                src.mapping, self.cfg.mappings_dir, maps=False), self.database)
            if result is None:
                from etl.pipeline import import_export

                result = import_export(described, source, src, self.mapping(src.mapping),
                                       self.database, dry_run=dry_run,
                                       override_reason=override_reason)
        finally:
            unchanged.forget()  # the bytes `describe` kept: not for the daemon's next hour
        if not dry_run:
            self._write_metrics()
        if result.findings is not None and report_path is not None:  # problems, or warnings
            from etl.drops import report

            report.write_csv(result.findings, report_path)
        return result

    def plan(self, files: list[Path], source: str, out: Path) -> ImportResult:
        """What importing the export would change (a dry run), saved to ``out`` as a plan for
        people to review and for `apply` to import exactly."""
        from etl.pipeline.again import describe
        from etl.pipeline.plans import Plan

        if len(self.cfg.source(source).targets()) > 1:
            raise ConfigError(f"source {source} feeds several clients: a plan holds one client's "
                              "changes; use `etl import --dry-run` to see them, `etl import` "
                              "or `etl run` to import")
        described = [describe(f) for f in files]  # hashed once: for the import and the plan
        result = self.import_files(described, source, dry_run=True)
        if result.expected is None:  # rejected or already applied: nothing to plan
            return result
        src = self.cfg.source(source)
        plan = Plan.of(result, src.client, src.mapping, described, utc_now())
        try:
            out.write_text(plan.to_json(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"the plan cannot be written to {out}: {exc.strerror}") from exc
        return result

    def apply(self, plan_path: Path, override_reason: str | None = None) -> ImportResult:
        """Import exactly what the plan at ``plan_path`` shows; raises PlanOutdated when a file
        or the database changed since it was made, or the export computes to other changes."""
        from etl.pipeline import import_export
        from etl.pipeline.plans import Plan

        plan = Plan.load(plan_path)
        src = self.cfg.source(plan.source)
        if src.client != plan.client or src.mapping != plan.mapping:
            raise PlanOutdated(f"source {plan.source} is now configured differently (client "
                               f"{src.client}, mapping {src.mapping}): make a new plan")
        files = plan.export_files()
        self.database.check_schema()
        result = import_export(files, plan.source, src, self.mapping(src.mapping), self.database,
                               override_reason=override_reason, expect=plan.expected)
        self._write_metrics()
        return result

    def runs(self, source: str | None = None, limit: int = 20) -> pd.DataFrame:
        """The import history, newest first."""
        return self.database.recent_runs(source, limit)

    def run_record(self, run_id: str) -> dict[str, object] | None:
        """One run in full (None when there is no such run)."""
        return self.database.run(run_id)

    def events(self, client: str | None = None, run_id: str | None = None,
               event: str | None = None, limit: int = 50, *,
               after: int | None = None) -> pd.DataFrame:
        """Change events (keys and field names, never residents' data): the newest ``limit``,
        or the oldest ``limit`` after the event id ``after`` (a consumer's cursor)."""
        return self.database.recent_events(client, run_id, event, limit, after)

    # -- drops --------------------------------------------------------------------------------

    def runner(self) -> Runner:
        """The runner of passes over the drops (the schema must be current)."""
        from etl.runner import Runner

        self.database.check_schema()
        return Runner(self.cfg, self.database, environ=self.environ)

    def run(self, sources: list[str] | None = None) -> list[SourcePass]:
        """One pass over the named sources (default: every source with a drop), side by side."""
        names = sources or [n for n, s in self.cfg.sources.items() if s.drop is not None]
        for name in names:
            if self.cfg.source(name).drop is None:
                raise ConfigError(f"source {name!r} has no drop in the configuration")
        return self.runner().run_all(names)

    def retry(self, source: str, key: str, override_reason: str | None = None) -> SourcePass:
        """Take an export out of the source's error folder again."""
        return self.runner().retry(source, key, override_reason=override_reason)

    def purge(self, sources: list[str] | None = None, *, dry_run: bool = False
              ) -> list[SourcePass]:
        """Delete what the retention of the named sources (default: all) says is due;
        ``dry_run``: count it, change nothing."""
        runner = self.runner()
        return [runner.purge(name, dry_run=dry_run) for name in sources or list(self.cfg.sources)]

    def kept_forever(self, source: str) -> list[str]:
        """The source's retention settings that keep data forever (none set)."""
        return self.cfg.retention_of(source).forever()

    def erase(self, client: str, person: str) -> str | None:
        """Erase one ended person's personal fields now (an erasure request); returns the run
        id, None when they were erased before. Raises ErasureRefused when the person is active
        (the ERP is the master: erase it there first) or unknown."""
        feeds = {n: {c for c, _ in s.targets()} for n, s in self.cfg.sources.items()}
        sources = sorted(n for n, clients in feeds.items() if client in clients)
        if not sources:
            known = ", ".join(sorted(set().union(*feeds.values()))) or "none"
            raise ConfigError(f"no source imports client {client!r} (known: {known})")
        from etl.core.clock import new_run_id
        from etl.store import RunRecord

        self.database.check_schema()
        now = utc_now()
        run = RunRecord(new_run_id(now), sources[0], client, now, None, None, None)
        erased = self.database.erase_person(person, run, now)
        self._write_metrics()
        return run.run_id if erased else None

    def status(self, sources: list[str] | None = None) -> list[SourceStatus]:
        """Per source: last run, last success, what waits, what is in error, the next run,
        overdue or failing (the drops are listed). A plain SQLite file is read without
        SQLAlchemy (etl.store.glance): a monitoring check calls this every minute."""
        path = sqlite_file(self.cfg.database, self.environ) if self._database is None else None
        runs = SqliteRuns(path) if path is not None else self.database
        runs.check_schema()
        now = utc_now()
        return [source_status(self.cfg, runs, name, self.environ, now)
                for name in sources or list(self.cfg.sources)]

    def doctor(self) -> list[Check]:
        """Every readiness check: work folder, database, each source's mapping, drop and newest
        waiting export, the metrics folder — nothing is imported or moved."""
        from etl.runner.doctor import diagnose

        return list(diagnose(self.cfg, self.database, self.environ))

    def check_host_key(self, source: str) -> HostKeyCheck:
        """The host key the source's SFTP server presents, compared with known_hosts."""
        from etl.drops.sftp import check_host_key

        drop = self.cfg.source(source).drop
        if drop is None or drop.sftp is None:
            raise ConfigError(f"source {source!r} has no SFTP drop")
        return check_host_key(drop.sftp, self.cfg.known_hosts(drop.sftp))

    def trust_host_key(self, check: HostKeyCheck, confirmed: str | None = None) -> None:
        """Write the presented key to known_hosts (``confirmed``: the fingerprint the server's
        administrator confirmed; refused when it differs)."""
        from etl.drops.sftp import trust_host_key

        trust_host_key(check, confirmed)

    def _write_metrics(self) -> None:
        """Rewrite the metrics textfile (if configured) from the run records."""
        if self.cfg.metrics.textfile is None:
            return  # without importing prometheus_client
        from etl.runner.metrics import write_metrics

        write_metrics(self.cfg.metrics.textfile, self.database)
