"""Pipeline: what happened to one export (`ImportResult`) — without pandas, so that the same
export again (`etl.pipeline.again`) is recognised, recorded and shown without importing it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from etl.core.changes import ChangeSet
    from etl.pipeline.plans import Expected
    from etl.stages import guard


@dataclass(frozen=True)
class ImportResult:
    """What happened to one export: ``status`` is applied, unchanged, duplicate, rejected,
    refused or planned (a dry run). ``changes`` is None when nothing was compared: a duplicate,
    a rejection, or the last accepted export's lines again."""

    run_id: str
    source: str
    status: str
    files: tuple[str, ...]
    changes: ChangeSet | None = None
    verdict: guard.Verdict | None = None
    findings: pd.DataFrame | None = None  # a rejected export's problems; else its warnings
    # and the errors of its held rows
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    expected: Expected | None = None  # of a dry run: what applying it as a plan must find
    warnings: tuple[str, ...] = ()  # e.g. the export's form changed (not refused)

    @property
    def ok(self) -> bool:
        return self.status in {"applied", "unchanged", "duplicate", "planned"}

    def written(self) -> dict[str, int]:
        """Rows written (or that would be) per entity."""
        return self.changes.written() if self.changes is not None else {}

    def ended(self) -> dict[str, int]:
        """Rows ended (or that would be) per entity."""
        return self.changes.ended_counts() if self.changes is not None else {}

    def events(self) -> dict[str, int]:
        """Change events per type."""
        return self.changes.summary() if self.changes is not None else {}


def stopwatch(timings: dict[str, float]) -> Callable[[str], None]:
    """``lap(stage)`` records the seconds since the last lap under ``stage``."""
    last = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - last[0], 3)
        last[0] = now

    return lap
