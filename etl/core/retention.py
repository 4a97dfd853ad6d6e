"""Core: retention — what a purge removed, and when something of a given age is due."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta


def due_before(now: datetime, days: int | None) -> datetime | None:
    """The moment up to which something kept ``days`` days is due (None: kept forever);
    ``days`` = 0 makes everything up to now due."""
    return None if days is None else now - timedelta(days=days)


@dataclass(frozen=True)
class PurgeCounts:
    """What one purge of a source removed (or, in a dry run, would remove) — counts only."""

    archived_files: int = 0  # archived exports and their companions
    rejected_files: int = 0  # exports in error/ and their reports
    staging_files: int = 0
    persons_erased: int = 0
    events_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(*(getattr(self, f.name) + getattr(other, f.name)
                             for f in fields(self)))

    @property
    def anything(self) -> bool:
        return any(self.as_dict().values())
