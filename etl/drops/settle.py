"""Drops, settlement: after the import, an export leaves the folder it was taken from — into
``archive/YYYY/MM/DD/`` when it was taken (applied, unchanged, already applied), with its page
and the CSV of its warnings (problems imported as they are) beside it, or into ``error/`` with
the reports for ERP staff beside it when it was not (rejected, refused)."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath

from etl.core import faults
from etl.core.config import DropConfig
from etl.drops.base import Drop, candidates, names_in
from etl.drops.names import report_names
from etl.drops.page import RunPage, render
from etl.drops.pickup import Pending
from etl.drops.report import Rejection, csv_bytes, staff_summary


def settle(drop: Drop, cfg: DropConfig, pending: Pending, folder: str, when: datetime,
           rejection: Rejection | None = None, page: RunPage | None = None
           ) -> tuple[str, str | None]:
    """Move every file of ``pending`` out of ``folder``; returns where they went and the name of
    the report written beside them. They go to the archive folder of the day ``when`` (local
    time), with the run's ``page`` beside them, or — with a ``rejection`` — to the error folder,
    where its reports (CSV, text, page) are written *before* the export is moved in, so that it
    is never there without them. A file already in its target folder stays; names that are taken
    get ``~2``, ``~3``, .... Raises SourceError when the drop fails (the ledger makes it safe to
    settle again next pass)."""
    if rejection is None:
        target = str(PurePosixPath(cfg.archive) / f"{when:%Y/%m/%d}")
        key = pending.key
        for i, name in enumerate(pending.names):
            if target != folder:
                moved_as = drop.move(folder, name, target)
                key = moved_as if name == pending.key else key
                if i == 0:
                    faults.point("settle_between_moves")
        if page is None:
            return target, None
        csv_name, _, html_name = report_names(PurePosixPath(key).stem)  # as the export is now
        if page.findings is not None and not page.findings.empty:
            drop.put(target, csv_name, csv_bytes(page.findings))
        return target, drop.put(target, html_name, render(page, when))
    target = cfg.error
    key = pending.key if target == folder else _free_name(drop, target, pending.key)
    csv_name, text_name, html_name = report_names(PurePosixPath(key).stem)
    written = None
    faults.point("report_write")
    if not rejection.findings.empty:
        written = drop.put(target, csv_name, csv_bytes(rejection.findings))
    if page is not None:
        drop.put(target, html_name, render(page, when))
    text_name = drop.put(target, text_name,
                         staff_summary(rejection, written, when).encode("utf-8-sig"))
    for i, name in enumerate(pending.names):
        if target != folder:
            drop.move(folder, name, target, key if name == pending.key else None)
            if i == 0:
                faults.point("settle_between_moves")
    return target, text_name


def _free_name(drop: Drop, folder: str, name: str) -> str:
    """The first of ``name``, ``stem~2.ext``, ... that is free in ``folder``, reports
    included."""
    taken = names_in(drop, folder)
    return next(c for c in candidates(name)
                if c not in taken and not taken & set(report_names(PurePosixPath(c).stem)))
