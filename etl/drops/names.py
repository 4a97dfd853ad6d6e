"""Drops: what a file in a drop is by its name — an export the source's pattern matches, one of
our own reports beside it (``<stem>.fehler.csv``, ``.fehler.txt``, ``.bericht.html``), or a file
that is never an export (hidden, temporary, half-uploaded)."""

from __future__ import annotations

import fnmatch

REPORT_SUFFIXES = (".fehler.csv", ".fehler.txt", ".bericht.html")
IGNORED = ("*.part", "*.tmp", "*.temp", "*.filepart", "*.partial", "*.crdownload", "*~",
           *(f"*{suffix}" for suffix in REPORT_SUFFIXES))


def report_names(stem: str) -> tuple[str, str, str]:
    """The names of an export's CSV report, text summary and run page (etl.drops.page)."""
    csv_suffix, text_suffix, page_suffix = REPORT_SUFFIXES
    return f"{stem}{csv_suffix}", f"{stem}{text_suffix}", f"{stem}{page_suffix}"


def ignored(name: str) -> bool:
    """Files that are never an export: hidden, temporary, half-uploaded, our own reports."""
    lower = name.casefold()
    return name.startswith(".") or any(fnmatch.fnmatch(lower, p) for p in IGNORED)


def matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name.casefold(), pattern.casefold())
