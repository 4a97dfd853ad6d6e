"""Runner, results: what became of each export in a pass, and of the pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.core.errors import EtlError
from etl.core.retention import PurgeCounts
from etl.pipeline import ImportResult

TAKEN = {"applied", "unchanged", "duplicate"}  # archived
NOT_TAKEN = {"rejected", "refused"}  # moved to error/ with a report


@dataclass(frozen=True)
class ExportOutcome:
    """What became of one export in a pass."""

    key: str
    status: str  # applied, unchanged, duplicate, rejected, refused, failed, changing
    run_id: str | None = None
    settled_in: str | None = None  # the folder it was moved to
    error: EtlError | None = None
    result: ImportResult | None = None


@dataclass
class SourcePass:
    """One pass over one source: what became of each export, what waits, what was purged,
    what failed."""

    source: str
    outcomes: list[ExportOutcome] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # links and unsafe names, never touched
    busy: bool = False
    error: EtlError | None = None
    purged: PurgeCounts | None = None

    @property
    def exit_code(self) -> int:
        """0: fine or nothing to do; 4: an export was rejected or refused; 5: the drop failed;
        6: the database failed (the most severe wins)."""
        codes = [0, *(4 for o in self.outcomes if o.status in NOT_TAKEN)]
        codes += [e.exit_code for e in (self.error, *(o.error for o in self.outcomes)) if e]
        return max(codes)
