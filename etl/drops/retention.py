"""Drops, retention: archived exports past their age (counted from the day they were archived,
``archive/YYYY/MM/DD``) and rejected exports with their reports past theirs (counted from when
they were last written) are deleted — inside the drop's archive and error folders only, never
following a link."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import PurePosixPath

from etl.core.config import DropConfig
from etl.drops.base import Drop, exists
from etl.drops.names import REPORT_SUFFIXES

_PARTS = (re.compile(r"\d{4}"), re.compile(r"\d{2}"), re.compile(r"\d{2}"))  # YYYY / MM / DD


def purge_drop(drop: Drop, cfg: DropConfig, archive_days: int | None, error_days: int | None,
               now: datetime, dry_run: bool = False) -> tuple[int, int]:
    """Delete what is due in the archive and error folders (days None: nothing); returns how
    many files went from each (``dry_run``: would go). ``now`` is local time: archive days are
    local days."""
    archived = 0 if archive_days is None else _purge_archive(drop, cfg.archive, archive_days,
                                                             now.date(), dry_run)
    rejected = 0 if error_days is None else _purge_error(drop, cfg.error, error_days, now,
                                                         dry_run)
    return archived, rejected


def _purge_archive(drop: Drop, archive: str, days: int, today: date, dry_run: bool) -> int:
    if not exists(drop, archive):
        return 0
    deleted = 0
    for year in _dated(drop, archive, 0):
        for month in _dated(drop, f"{archive}/{year}", 1):
            for day in _dated(drop, f"{archive}/{year}/{month}", 2):
                try:
                    archived_on = date(int(year), int(month), int(day))
                except ValueError:
                    continue  # not a folder of ours
                if (today - archived_on).days < days:
                    continue
                folder = f"{archive}/{year}/{month}/{day}"
                deleted += _delete_all(drop, folder,
                                       [e.name for e in drop.list(folder) if not e.link],
                                       dry_run)
            if not dry_run:
                drop.remove_folder(f"{archive}/{year}/{month}")
        if not dry_run:
            drop.remove_folder(f"{archive}/{year}")
    return deleted


def _dated(drop: Drop, folder: str, level: int) -> list[str]:
    return [name for name in drop.folders(folder) if _PARTS[level].fullmatch(name)]


def _delete_all(drop: Drop, folder: str, names: list[str], dry_run: bool) -> int:
    """Deletes every file of ``folder``; counts the exports (their reports go with them)."""
    if not dry_run:
        for name in names:
            drop.delete(folder, name)
        drop.remove_folder(folder)
    return _exports(names)


def _exports(names: list[str]) -> int:
    return sum(1 for name in names if not name.endswith(REPORT_SUFFIXES)
               and not _PAGE_COPY.search(name))


def _purge_error(drop: Drop, error: str, days: int, now: datetime, dry_run: bool) -> int:
    """An export and its reports go together, when the newest of them is due."""
    if not exists(drop, error):
        return 0
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for entry in drop.list(error):
        if not entry.link:  # not ours: left alone
            groups[_export_of(entry.name)].append((entry.name, entry.mtime))
    due = now.timestamp() - days * 86_400
    names = [name for members in groups.values() if max(m for _, m in members) <= due
             for name, _ in members]
    if not dry_run:
        for name in names:
            drop.delete(error, name)
    return _exports(names)


def _export_of(name: str) -> str:
    """The stem an error folder's file belongs to (a report names its export's stem)."""
    for suffix in REPORT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    if copy := _PAGE_COPY.search(name):
        return name[: copy.start()]
    return PurePosixPath(name).stem


# a report whose name was taken: ``stem.bericht~2.html``, ``stem.fehler~2.txt``
_PAGE_COPY = re.compile(r"\.(bericht|fehler)~\d+\.(html|txt|csv)$")
