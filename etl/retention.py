"""Retention: the purge of one source — what its retention says is due goes from the drop
(archived and rejected exports with their reports), from the work folder (copies left in
staging) and from the database (ended persons' personal fields, old change events), and the
purge is recorded as a run. The caller holds the source's lock."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from etl.core.clock import new_run_id
from etl.core.config import AppConfig, SourceConfig
from etl.core.errors import ConfigError
from etl.core.retention import PurgeCounts, due_before
from etl.drops import Drop
from etl.drops.retention import purge_drop
from etl.store import Database, RunRecord

log = logging.getLogger(__name__)


def purge_source(cfg: AppConfig, database: Database, name: str, src: SourceConfig,
                 drop: Drop | None, now: datetime, dry_run: bool = False) -> PurgeCounts:
    """Purge source ``name`` (``drop``: its open drop, if it has one); returns what went
    (``dry_run``: what would go, nothing is changed). Raises SourceError, ConfigError or
    LoadError as the drop, the work folder or the database fail."""
    keep = cfg.retention_of(name)
    archived = rejected = 0
    if drop is not None and src.drop is not None:
        archived, rejected = purge_drop(drop, src.drop, keep.archive_days, keep.error_days,
                                        now.astimezone(ZoneInfo(cfg.timezone)), dry_run)
    staging = _purge_folder(cfg.work_dir / "staging" / name,
                            due_before(now, keep.staging_days), dry_run)
    total = PurgeCounts()
    for i, (client, _codes) in enumerate(src.targets()):  # a drop may feed several clients
        run = RunRecord(new_run_id(now), name, client, now, None, None, None)
        counts = database.purge(
            run, now, persons_before=due_before(now, keep.ended_person_days),
            events_before=due_before(now, keep.events_days),
            files=PurgeCounts(archived, rejected, staging) if i == 0 else PurgeCounts(),
            dry_run=dry_run)
        if counts.anything:
            log.info("source %s: %s (run %s): %s", name, "would purge" if dry_run else "purged",
                     run.run_id, ", ".join(f"{k} {v}" for k, v in counts.as_dict().items()))
        total = total + counts
    return total


def _purge_folder(folder: Path, before: datetime | None, dry_run: bool) -> int:
    """Delete the files below ``folder`` last written before ``before`` (None: keep), and the
    folders left empty; links are deleted, never followed. How many files (would) go."""
    if before is None or not folder.is_dir():
        return 0
    due = before.timestamp()
    count = 0
    try:
        for root, dirs, names in os.walk(folder, topdown=False):
            for name in names:
                path = Path(root) / name
                if path.lstat().st_mtime <= due:
                    count += 1
                    if not dry_run:
                        path.unlink()
            for name in dirs:
                path = Path(root) / name
                if not dry_run and not path.is_symlink() and not any(path.iterdir()):
                    path.rmdir()
    except OSError as exc:
        raise ConfigError(f"work folder {folder}: {exc}") from exc
    return count
