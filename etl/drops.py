"""Drops: where a client's exports arrive — a local folder (the embedded default) or an SFTP
server (etl/sftp.py). Both offer the same few operations on folders below the drop's base
(``inbox``, ``archive/2026/11/27``, ``error``), so pickup and settlement are written once.

Moves and uploads never overwrite: a name that is taken gets ``~2``, ``~3``, ... before its
extension.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from etl.errors import SourceError, SourceUnavailable

Progress = Callable[[int, int], None]
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """A regular file in a drop folder."""

    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str


class Drop(Protocol):
    label: str

    def list(self, folder: str) -> list[Entry]: ...

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes: ...

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> Fetched: ...

    def move(self, folder: str, name: str, target: str) -> str: ...

    def put(self, folder: str, name: str, data: bytes) -> str: ...

    def close(self) -> None: ...


def candidates(name: str) -> Iterator[str]:
    """``name``, then ``stem~2.ext``, ``stem~3.ext``, ...: where a move may land."""
    yield name
    path = PurePosixPath(name)
    for n in range(2, 10_000):
        yield f"{path.stem}~{n}{path.suffix}"
    raise SourceError(f"no free name for {name} in the target folder")


def copy_hashing(source: BinaryIO, target: BinaryIO, total: int,
                 progress: Progress | None = None) -> tuple[int, str]:
    """Copy in 1 MiB blocks, hashing as it goes: (bytes copied, SHA-256 hex)."""
    digest = hashlib.sha256()
    done = 0
    while block := source.read(CHUNK):
        target.write(block)
        digest.update(block)
        done += len(block)
        if progress:
            progress(done, total)
    return done, digest.hexdigest()


def part_name(name: str) -> str:
    """The temporary name of a file being written: hidden and ignored by every pickup."""
    return f".{name}.part"


class LocalDrop:
    """A folder on this machine (or a mounted share)."""

    def __init__(self, base: Path):
        self.base = base
        self.label = str(base)

    def _dir(self, folder: str) -> Path:
        return self.base / folder

    @contextmanager
    def _io(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise SourceError(f"{self.label}: {what}: {exc}") from exc

    def list(self, folder: str) -> list[Entry]:
        path = self._dir(folder)
        try:
            with os.scandir(path) as it:
                found = [(e.name, e.stat()) for e in it]
        except FileNotFoundError:
            raise SourceUnavailable(f"drop folder {path} does not exist") from None
        except OSError as exc:
            raise SourceUnavailable(f"drop folder {path} cannot be read: {exc}") from exc
        return [Entry(n, s.st_size, s.st_mtime) for n, s in found if stat.S_ISREG(s.st_mode)]

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes:
        with self._io(f"reading {name}"), (self._dir(folder) / name).open("rb") as fh:
            return fh.read(limit)

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> Fetched:
        src = self._dir(folder) / name
        tmp = dest.with_name(part_name(dest.name))
        with self._io(f"copying {name}"), src.open("rb") as fin, tmp.open("wb") as fout:
            info = os.fstat(fin.fileno())
            done, sha256 = copy_hashing(fin, fout, info.st_size, progress)
        os.utime(tmp, (info.st_atime, info.st_mtime))
        tmp.replace(dest)
        return Fetched(dest, done, sha256)

    def move(self, folder: str, name: str, target: str) -> str:
        into = self._dir(target)
        with self._io(f"moving {name} to {target}"):
            into.mkdir(parents=True, exist_ok=True)
            return self._place(self._dir(folder) / name, into, name)

    def put(self, folder: str, name: str, data: bytes) -> str:
        into = self._dir(folder)
        with self._io(f"writing {name} to {folder}"):
            into.mkdir(parents=True, exist_ok=True)
            tmp = into / part_name(name)
            tmp.write_bytes(data)
            return self._place(tmp, into, name)

    @staticmethod
    def _place(src: Path, into: Path, name: str) -> str:
        for candidate in candidates(name):
            try:
                os.link(src, into / candidate)  # fails when the name is taken: never overwrites
            except FileExistsError:
                continue
            except OSError:  # no hard links here (another file system, some shares)
                if (into / candidate).exists():
                    continue
                shutil.move(src, into / candidate)
                return candidate
            src.unlink()
            return candidate
        raise AssertionError("unreachable")

    def close(self) -> None:
        pass
