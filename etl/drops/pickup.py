"""Drops, safe pickup: which exports in a drop's inbox are complete — as whole sets, oldest first
— and their download into staging, checked against what their manifest promises.

A one-file export is complete when its marker (``<name>.done`` or ``<stem>.done``, the suffix
configurable) exists, or — without a marker — when its size and mtime did not change over the
settle time. A multi-file export is complete when its manifest, uploaded last, is there (with
its marker, or settled); the manifest lists the members, optionally with size and SHA-256, and a
set with a missing or truncated member is refused as a whole. Hidden files, ``*.part``,
``*.tmp`` and the like are never taken.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

import pandas as pd

from etl.core import findings
from etl.core.config import DropConfig
from etl.core.errors import SourceError
from etl.core.exports import ExportFile, export_time, printable, unsafe, utf8
from etl.core.mapping_format import Mapping
from etl.drops.base import Drop, Entry, Progress
from etl.drops.names import ignored, matches, report_names

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Member:
    """A data file of an export as it was listed, with what its manifest promises about it."""

    name: str
    size: int
    expect_size: int | None = None
    expect_sha256: str | None = None
    mtime: float | None = None


@dataclass(frozen=True)
class Pending:
    """One complete export: its data files and the files that settle with them."""

    key: str  # the data file, or the manifest of a set: names the reports
    members: tuple[Member, ...]
    companions: tuple[str, ...]  # marker, manifest
    export_time: datetime
    problems: pd.DataFrame = field(default_factory=findings.empty)

    @property
    def names(self) -> tuple[str, ...]:
        return (*(m.name for m in self.members), *self.companions)


@dataclass(frozen=True)
class Scan:
    ready: list[Pending]
    waiting: list[str]  # exports seen but not complete yet
    skipped: list[str] = field(default_factory=list)  # links, unsafe names: never touched


def wants_settle(drop: DropConfig) -> bool:
    """Without a marker, completeness is judged by two listings a settle time apart."""
    return drop.marker is None and drop.settle_seconds > 0


def _marker_of(name: str, marker: str | None, present: set[str]) -> str | None:
    if marker is None:
        return None
    for candidate in (f"{name}{marker}", f"{PurePosixPath(name).stem}{marker}"):
        if candidate in present:
            return candidate
    return None


_SHA256SUM = re.compile(r"(?P<sha>[0-9a-fA-F]{64}) [ *](?P<name>.+)")
_FIELDS = re.compile(
    r"(?P<name>[^;\t]+)(?:[;\t]\s*(?P<size>\d+)?)?(?:[;\t]\s*(?P<sha>[0-9a-fA-F]{64}))?"
)


def parse_manifest(name: str, data: bytes) -> tuple[list[Member], pd.DataFrame]:
    """The members a manifest lists (one per line: ``file``, ``file;size``,
    ``file;size;sha256`` or sha256sum's ``sha256  file``; ``#`` starts a comment)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    members: list[Member] = []
    problems = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SHA256SUM.fullmatch(line) or _FIELDS.fullmatch(line)
        member = match["name"].strip() if match else ""
        if not match or not member or "/" in member or "\\" in member or member in {".", ".."}:
            problems.append(findings.make("manifest.invalid", file=name, line=lineno,
                                          column=None, value=line))
            continue
        size = match.groupdict().get("size")
        sha = match["sha"]
        members.append(Member(member, -1, int(size) if size else None,
                              sha.lower() if sha else None))
    if not members and not problems:
        problems.append(findings.make("manifest.empty", file=name, line=None, column=None))
    return members, findings.concat(problems)


def scan(
    first: Iterable[Entry],
    second: Iterable[Entry],
    drop: DropConfig,
    pattern: str,
    multi: bool,
    read: Callable[[str], bytes],
) -> Scan:
    """Complete exports in the inbox, oldest first. ``first`` and ``second`` are two listings
    a settle time apart (the same listing when a marker decides); ``read`` fetches a manifest."""
    before = {e.name: (e.size, e.mtime) for e in first}
    now: dict[str, Entry] = {}
    skipped: list[str] = []
    for entry in second:
        reason = "a link, never followed" if entry.link else unsafe(entry.name)
        if reason and not ignored(entry.name):
            skipped.append(f"{printable(entry.name)} ({reason})")
        elif not reason:
            now[entry.name] = entry
    present = set(now)
    settle = wants_settle(drop)

    def complete(entry: Entry) -> tuple[bool, tuple[str, ...]]:
        marker = _marker_of(entry.name, drop.marker, present)
        if drop.marker is not None:
            return marker is not None, (marker,) if marker else ()
        stable = not settle or before.get(entry.name) == (entry.size, entry.mtime)
        return stable, ()

    ready: list[Pending] = []
    waiting: list[str] = []
    markers = {n for n in present if drop.marker and n.endswith(drop.marker)}
    if not multi:
        for entry in now.values():
            if ignored(entry.name) or entry.name in markers or not matches(entry.name, pattern):
                continue
            ok, companions = complete(entry)
            if not ok:
                waiting.append(entry.name)
                continue
            problems = findings.empty() if utf8(entry.name) else findings.make(
                "file.name_encoding", file=printable(entry.name), line=None, column=None)
            ready.append(Pending(entry.name, (Member(entry.name, entry.size,
                                                     mtime=entry.mtime),), companions,
                                 export_time(entry.name, entry.mtime), problems))
    else:
        assert drop.manifest is not None
        claimed: set[str] = set()
        for entry in now.values():
            if ignored(entry.name) or entry.name in markers:
                continue
            if not matches(entry.name, drop.manifest):
                continue
            ok, companions = complete(entry)
            if not ok:
                waiting.append(entry.name)
                continue
            listed, problems = parse_manifest(entry.name, read(entry.name))
            members = []
            for member in listed:
                found = now.get(member.name)
                if found is None:
                    problems = findings.concat([problems, findings.make(
                        "manifest.member_missing", file=entry.name, line=None, column=None,
                        member=member.name)])
                    continue
                if member.expect_size is not None and member.expect_size != found.size:
                    problems = findings.concat([problems, findings.make(
                        "file.truncated", file=member.name, line=None, column=None,
                        actual=found.size, expected=member.expect_size)])
                members.append(Member(found.name, found.size, member.expect_size,
                                      member.expect_sha256, found.mtime))
                claimed.add(found.name)
            ready.append(Pending(entry.name, tuple(members), (entry.name, *companions),
                                 export_time(entry.name, entry.mtime), problems))
        waiting += [n for n in now if n not in claimed and not ignored(n) and n not in markers
                    and not matches(n, drop.manifest) and matches(n, pattern)]
    ready.sort(key=lambda p: (p.export_time, p.key))
    return Scan(ready, sorted(waiting), skipped)


def find_complete(drop: Drop, cfg: DropConfig, mapping: Mapping,
                  wait: Callable[[float], bool]) -> Scan:
    """The complete exports in the drop's inbox, oldest first. Without markers, two listings a
    settle time apart decide; ``wait(seconds)`` sleeps between them and returns True when the
    pass is being stopped (then nothing is ready)."""
    multi = mapping.multi_file
    pattern = cfg.pattern or ("*" if multi else next(iter(mapping.files.values())).pattern)

    def read(name: str) -> bytes:
        return drop.read_small(cfg.inbox, name)

    first = drop.list(cfg.inbox)
    found = scan(first, first, cfg, pattern, multi, read)
    if not wants_settle(cfg) or not (found.ready or found.waiting):
        return found
    log.debug("waiting %.0f s for uploads to settle", cfg.settle_seconds)
    if wait(cfg.settle_seconds):
        return Scan([], [])
    return scan(first, drop.list(cfg.inbox), cfg, pattern, multi, read)


def take_back(drop: Drop, cfg: DropConfig, key: str, multi: bool) -> Pending:
    """The export ``key`` (a file, or a set's manifest) in the error folder, to be taken again
    together with its old reports; raises SourceError when it is not there."""
    literal = glob.escape(key)
    exact = cfg.model_copy(update={"marker": None, "settle_seconds": 0, "pattern": literal,
                                   "manifest": literal if multi else None})
    entries = drop.list(cfg.error)
    found = scan(entries, entries, exact, literal, multi,
                 lambda name: drop.read_small(cfg.error, name))
    if not found.ready:
        raise SourceError(f"{key} is not in the error folder {cfg.error!r} of {drop.label}")
    present = {e.name for e in entries}
    reports = tuple(n for n in report_names(PurePosixPath(key).stem) if n in present)
    return replace(found.ready[0], companions=(*found.ready[0].companions, *reports))


def download(drop: Drop, folder: str, pending: Pending, into: Path,
             progress: Progress | None = None, *, despite_problems: bool = False
             ) -> tuple[list[ExportFile], pd.DataFrame, list[str]]:
    """The export's data files fetched into ``into`` (each hashed on the way), the findings of
    the checks against its manifest (size, SHA-256: a set that fails one is rejected as a
    whole), and the members whose size changed since they were listed (still being written:
    the export waits). Nothing is fetched of a set whose manifest already failed, unless
    ``despite_problems``."""
    problems = [pending.problems]
    files: list[ExportFile] = []
    changed: list[str] = []
    if pending.problems.empty or despite_problems:
        for member in pending.members:
            if unsafe(member.name):  # scan never lets one through; a path must never escape
                raise SourceError(f"{printable(member.name)}: not a plain file name")
            got = drop.fetch(folder, member.name, into / member.name, progress)
            files.append(got)
            if member.size >= 0 and got.size != member.size:
                changed.append(member.name)
            elif member.expect_size is not None and got.size != member.expect_size:
                problems.append(findings.make("file.truncated", file=member.name, line=None,
                                              column=None, actual=got.size,
                                              expected=member.expect_size))
            elif member.expect_sha256 and got.sha256 != member.expect_sha256:
                problems.append(findings.make("file.checksum", file=member.name, line=None,
                                              column=None, value=got.sha256))
    return files, findings.concat(problems), changed


def unchanged(drop: Drop, folder: str, pending: Pending) -> bool:
    """Whether every data file of the export still has the size and time it was listed with
    (checked again before it settles: a file written on meanwhile stays where it is)."""
    now = {e.name: e for e in drop.list(folder)}
    return all(m.name in now and now[m.name].size == m.size
               and (m.mtime is None or now[m.name].mtime == m.mtime) for m in pending.members)
