"""Runner, status: per source, what a monitoring check wants to know — the last run and its
outcome, the last success and the export it applied, what waits in the drop and what lies in its
error folder, the next scheduled run, and whether the source is overdue or failing."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from etl.core.config import AppConfig
from etl.core.errors import SourceError
from etl.core.mapping_load import load_mapping
from etl.drops import open_drop
from etl.drops.base import names_in
from etl.drops.names import REPORT_SUFFIXES, ignored, matches

if TYPE_CHECKING:
    from etl.store import Database
    from etl.store.glance import SqliteRuns

FAILING = {"failed", "rejected", "refused"}


@dataclass(frozen=True)
class SourceStatus:
    source: str
    last_run: str | None  # its status
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_export: datetime | None  # export time of the last success
    waiting: int | None  # exports in the inbox (None: no drop, or it could not be read)
    in_error: int | None  # exports in the error folder
    next_run: datetime | None  # of the source's schedule, in the configured time zone
    overdue: bool  # the last success is older than max_age_hours
    failing: bool  # the last run failed, or its export was rejected or refused
    drop_problem: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.overdue or self.failing or self.drop_problem)


def source_status(cfg: AppConfig, runs: Database | SqliteRuns, name: str,
                  environ: Mapping[str, str], now: datetime) -> SourceStatus:
    """The status of source ``name``; the drop is listed (an SFTP server is connected to), a
    drop that cannot be read is a problem of the status, not an error."""
    src = cfg.source(name)
    newest, success = runs.last_runs(name)
    waiting = in_error = None
    problem = None
    if src.drop is not None:
        try:
            waiting, in_error = _drop_counts(cfg, name, environ)
        except SourceError as exc:
            problem = str(exc)
    schedule = src.parsed_schedule
    zone = ZoneInfo(cfg.timezone)
    last_success = success["finished_at"] if success else None
    overdue = src.max_age_hours is not None and (
        last_success is None or now - last_success > timedelta(hours=src.max_age_hours))
    return SourceStatus(
        name, newest["status"] if newest else None, newest["finished_at"] if newest else None,
        last_success, success["export_time"] if success else None, waiting, in_error,
        schedule.next_after(now.astimezone(zone)) if schedule else None, overdue,
        bool(newest and newest["status"] in FAILING), problem)


def _drop_counts(cfg: AppConfig, name: str, environ: Mapping[str, str]) -> tuple[int, int]:
    src = cfg.source(name)
    assert src.drop is not None
    mapping = load_mapping(src.mapping, cfg.mappings_dir, maps=False)
    pattern = src.drop.manifest if mapping.multi_file else (
        src.drop.pattern or next(iter(mapping.files.values())).pattern)
    with closing(open_drop(src.drop, name, cfg.known_hosts(src.drop.sftp), environ)) as drop:
        inbox = {e.name for e in drop.list(src.drop.inbox) if not e.link}  # must be there
        error = names_in(drop, src.drop.error)  # made when first needed
    waiting = sum(1 for n in inbox if not ignored(n) and matches(n, pattern or "*"))
    in_error = sum(1 for n in error if not n.startswith(".")
                   and not n.endswith(REPORT_SUFFIXES)
                   and (not mapping.multi_file or matches(n, pattern or "*")))
    return waiting, in_error
