"""Drops, settlement: after the import, an export leaves the folder it was taken from — into
``archive/YYYY/MM/DD/`` when it was taken (applied, unchanged, already applied), or into
``error/`` with the reports for ERP staff beside it when it was not (rejected, refused)."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath

from etl.core.config import DropConfig
from etl.drops.base import Drop
from etl.drops.pickup import Pending
from etl.drops.report import Rejection, csv_bytes, report_names, staff_summary


def settle(drop: Drop, cfg: DropConfig, pending: Pending, folder: str, when: datetime,
           rejection: Rejection | None = None) -> str:
    """Move every file of ``pending`` out of ``folder`` and return where they went: the archive
    folder of the day ``when`` (local time), or — with a ``rejection`` — the error folder, where
    its reports are written too. A file already in its target folder stays; names that are
    taken get ``~2``, ``~3``, .... Raises SourceError when the drop fails (the ledger makes it
    safe to settle again next pass)."""
    if rejection is None:
        target = str(PurePosixPath(cfg.archive) / f"{when:%Y/%m/%d}")
    else:
        target = cfg.error
    moved = {n: n if target == folder else drop.move(folder, n, target) for n in pending.names}
    if rejection is not None:
        csv_name, text_name = report_names(PurePosixPath(moved.get(pending.key,
                                                                   pending.key)).stem)
        written = None
        if not rejection.findings.empty:
            written = drop.put(target, csv_name, csv_bytes(rejection.findings))
        text = staff_summary(rejection, written, when)
        drop.put(target, text_name, text.encode("utf-8-sig"))
    return target
