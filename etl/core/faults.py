"""Core: fault points for the reliability tests. ``ETL_FAULT=<point>:<kill|raise>`` — set only by
tests — makes the process kill itself (SIGKILL) or raise ``InjectedFault`` when it reaches that
point; unset, every point is a no-op. The points sit at the boundaries where a crash could leave
a file or the database between two states (docs/reliability.md)."""

from __future__ import annotations

import os
import signal

POINTS = (
    "after_download",  # the export is in staging
    "after_validation",  # read, mapped and validated; nothing written
    "load_before_data",  # in the transaction, before any row
    "load_after_data",  # in the transaction: rows written; events, run, state not yet
    "load_before_commit",  # in the transaction, everything written
    "after_commit",  # committed, not settled
    "settle_between_moves",  # one file of the export moved, the others not
    "report_write",  # the reports of a rejected export being written
)
_WANTED = os.environ.get("ETL_FAULT", "")


class InjectedFault(Exception):
    """Raised at a fault point; deliberately outside the error tree: an unexpected failure."""


def point(name: str) -> None:
    """Crash or raise here if ``ETL_FAULT`` names this point."""
    if not _WANTED:
        return
    where, _, action = _WANTED.partition(":")
    if where != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"fault injected at {name}")
