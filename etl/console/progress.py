"""Shell: progress bars on a terminal (rich.progress) — one bar per export, advancing through the
stages (download, read, map, validate, diff, guard, load, settle) as etl.core.observe reports
them, and the bytes of a download. Nothing is drawn when stderr is not a terminal or with
--quiet: cron mail, the journal and pipes get log lines only."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from etl.core import observe

STAGES = ("pickup", "download", "read", "map", "validate", "diff", "guard", "load", "settle")


class Bars:
    """The listener of etl.core.observe that draws the bars."""

    def __init__(self, console: Console):
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._lock = threading.Lock()

    def _task(self, key: tuple[str, str], total: float) -> TaskID:
        with self._lock:
            if key not in self._tasks:
                self._tasks[key] = self.progress.add_task(" ".join(filter(None, key)),
                                                          total=total, detail="")
            return self._tasks[key]

    def stage(self, context: dict[str, str]) -> None:
        stage = context.get("stage", "")
        if stage not in STAGES or not context.get("export"):
            return
        task = self._task((context.get("source", ""), context["export"]), len(STAGES))
        self.progress.update(task, completed=STAGES.index(stage) + 1, detail=stage)

    def transferred(self, context: dict[str, str], done: int, total: int) -> None:
        if not context.get("export"):
            return
        task = self._task((context.get("source", ""), context["export"]), len(STAGES))
        share = done / total if total else 0.0
        self.progress.update(task, completed=STAGES.index("download") + share,
                             detail=f"download {decimal(done)} of {decimal(total)}")


@contextmanager
def bars(quiet: bool = False) -> Iterator[None]:
    """Progress bars on stderr for the block, when it is a terminal and not ``quiet``."""
    console = Console(stderr=True)
    if quiet or not sys.stderr.isatty() or not console.is_terminal:
        yield
        return
    shown = Bars(console)
    observe.listen(shown)
    try:
        with shown.progress:
            yield
    finally:
        observe.listen(None)
