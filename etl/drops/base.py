"""Drops: what every drop offers — a local folder (`local`) or an SFTP server (`sftp`) — the same
few operations on folders below the drop's base (``inbox``, ``archive/2026/11/27``, ``error``),
so that pickup and settlement are written once.

Moves and uploads never overwrite: a name that is taken gets ``~2``, ``~3``, ... before its
extension. Every operation raises only SourceError (or a subclass): each drop translates its own
failures (``OSError``, paramiko's errors) at its boundary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from etl.core.errors import ConfigError, SourceError
from etl.core.exports import ExportFile

Progress = Callable[[int, int], None]
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """A regular file in a drop folder — or a link (``link``), which is never followed."""

    name: str
    size: int
    mtime: float
    link: bool = False


class Drop(Protocol):
    """A drop's folders, by name relative to its base."""

    label: str

    def list(self, folder: str) -> list[Entry]: ...

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes: ...

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> ExportFile:
        """Copy ``name`` to ``dest`` (complete or not at all), hashing it on the way."""
        ...

    def move(self, folder: str, name: str, target: str, as_name: str | None = None) -> str:
        """Move ``name`` into ``target`` as ``as_name`` (default: its name) — or, when that
        is taken, the first free ``~N`` variant; returns the name it got."""
        ...

    def put(self, folder: str, name: str, data: bytes) -> str: ...

    def folders(self, folder: str) -> list[str]:
        """Names of the folders in ``folder`` (links are not folders); none when it is
        missing."""
        ...

    def delete(self, folder: str, name: str) -> None:
        """Delete the file ``name`` (a link itself, never what it points to)."""
        ...

    def remove_folder(self, folder: str) -> bool:
        """Remove ``folder`` if it is empty; whether it was."""
        ...

    def close(self) -> None: ...


def candidates(name: str) -> Iterator[str]:
    """``name``, then ``stem~2.ext``, ``stem~3.ext``, ...: where a move may land."""
    yield name
    path = PurePosixPath(name)
    for n in range(2, 10_000):
        yield f"{path.stem}~{n}{path.suffix}"
    raise SourceError(f"no free name for {name} in the target folder")


class FileUnreadable(SourceError):
    """This one file cannot be read from the drop (the drop answered "no"): it is moved to the
    error folder with a report instead of blocking the source forever."""


def copy_hashing(source: BinaryIO, target: BinaryIO, total: int,
                 progress: Progress | None = None) -> tuple[int, str]:
    """Copy in 1 MiB blocks, hashing as it goes: (bytes copied, SHA-256 hex). Raises
    ConfigError when the copy in the work folder cannot be written (a full disk is not the
    file's fault); the source's own errors pass through."""
    digest = hashlib.sha256()
    done = 0
    while block := source.read(CHUNK):
        try:
            target.write(block)
        except OSError as exc:
            raise ConfigError(f"work folder: cannot write the copy of a download: {exc}") from exc
        digest.update(block)
        done += len(block)
        if progress:
            progress(done, total)
    return done, digest.hexdigest()


def exists(drop: Drop, folder: str) -> bool:
    """Whether ``folder`` is there (folders a pass makes when first needed may not be yet)."""
    path = PurePosixPath(folder)
    return path.name in drop.folders(str(path.parent))


def names_in(drop: Drop, folder: str) -> set[str]:
    """The names of the files in ``folder``; none when it does not exist yet."""
    return {e.name for e in drop.list(folder)} if exists(drop, folder) else set()


def part_name(name: str) -> str:
    """The temporary name of a file being written: hidden and ignored by every pickup."""
    return f".{name}.part"
