"""Core: an export's files as the ledger knows them — name, content hash, size, export time."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_STAMP = re.compile(
    r"(?P<y>(?:19|20)\d{2})-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)"
    r"(?:[T_ -]?(?P<H>[0-2]\d)[:-]?(?P<M>[0-5]\d)(?:[:-]?(?P<S>[0-5]\d))?)?"
)


def export_time(name: str, mtime: float) -> datetime:
    """When the ERP wrote the export: a date (and time) in the file name, else the mtime."""
    match = _STAMP.search(name)
    if match:
        parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
        try:
            return datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"],
                            parts["S"], tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(mtime, UTC)


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
    def of(cls, path: Path, name: str | None = None) -> ExportFile:
        """Describe a file on this machine (its SHA-256 read in 1 MiB blocks); raises OSError."""
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        info = path.stat()
        return cls(path, name or str(path), digest.hexdigest(), info.st_size,
                   export_time(path.name, info.st_mtime))
