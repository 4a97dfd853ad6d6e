"""Core: an export's files as the ledger knows them — name, content hash, size, export time."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_STAMP = re.compile(
    r"(?P<y>(?:19|20)\d{2})-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)"
    r"(?:[T_ -]?(?P<H>[0-2]\d)[:-]?(?P<M>[0-5]\d)(?:[:-]?(?P<S>[0-5]\d))?)?"
)


# A file name may carry the day an export is for (a key date ahead, at most a quarter); a date
# further after the file was written is a typo or a trap — believed, it would make every later
# export look stale.
AHEAD = timedelta(days=92)


def export_time(name: str, mtime: float) -> datetime:
    """When the ERP wrote the export: a date (and time) in the file name, unless it lies more
    than a quarter after the file's mtime; else the mtime."""
    written = datetime.fromtimestamp(mtime, UTC)
    match = _STAMP.search(name)
    if match:
        parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
        try:
            stamp = datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"],
                             parts["S"], tzinfo=UTC)
        except ValueError:
            return written
        if stamp <= written + AHEAD:
            return stamp
    return written


def printable(name: str) -> str:
    """A file name as a log line or report may show it: control and invisible characters and
    bytes that are not UTF-8 escaped (``\\n``, ``\\u200b``, ``\\udcff``), so that a name can
    neither forge a log line nor break a report."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in name)


def utf8(name: str) -> bool:
    """Whether a file name was valid UTF-8 (undecodable bytes arrive as lone surrogates)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in name)


def unsafe(name: str) -> str | None:
    """Why a name found in a drop must never be joined to a path, or None: a path separator,
    a name that climbs (``..``), a NUL."""
    if name in {"", ".", ".."} or "/" in name or "\\" in name:
        return "not a plain file name"
    if "\x00" in name:
        return "a NUL in the name"
    return None


@dataclass(frozen=True)
class ExportFile:
    """One file of an export: where its bytes are now (``path``: a staged copy or the operator's
    file), its ``name`` where it came from (the drop's file name, or the path given), and what
    the ledger records of it."""

    path: Path
    name: str
    sha256: str
    size: int
    export_time: datetime

    @classmethod
    def of(cls, path: Path, name: str | None = None, data: bytes | None = None) -> ExportFile:
        """Describe a file on this machine (its SHA-256 read in 1 MiB blocks, or of ``data``:
        its bytes, read already); raises OSError."""
        digest = hashlib.sha256(data or b"")
        if data is None:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        info = path.stat()
        return cls(path, name or str(path), digest.hexdigest(), info.st_size,
                   export_time(path.name, info.st_mtime))
