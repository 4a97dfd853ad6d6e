"""Drops: a local folder (or a mounted share) — the embedded default."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from etl.core.errors import SourceError, SourceUnavailable
from etl.core.exports import ExportFile, export_time, printable
from etl.drops.base import (
    CHUNK,
    Entry,
    FileUnreadable,
    Progress,
    candidates,
    copy_hashing,
    part_name,
)


class LocalDrop:
    """A folder on this machine (or a mounted share)."""

    def __init__(self, base: Path):
        self.base = base
        self.label = str(base)

    def _dir(self, folder: str) -> Path:
        """A folder below the base; none of its parts may be a link out of the drop."""
        path = self.base
        for part in PurePosixPath(folder).parts:
            if part in {"..", "/"}:
                raise SourceError(f"{self.label}: folder {folder!r} is outside the drop")
            path = path / part
            if path.is_symlink():
                raise SourceError(f"{self.label}: {folder} is a link; a drop never follows one",
                                  hint="make it a folder of the drop")
        return path

    def _open(self, folder: str, name: str) -> BinaryIO:
        """A file of the drop for reading, never through a link."""
        fd = os.open(self._dir(folder) / name, os.O_RDONLY | os.O_NOFOLLOW)
        return os.fdopen(fd, "rb")

    @contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """The boundary of this room: an OSError becomes a SourceError naming the operation."""
        try:
            yield
        except OSError as exc:
            raise SourceError(f"{self.label}: {what}: {exc}") from exc

    def list(self, folder: str) -> list[Entry]:
        path = self._dir(folder)
        try:
            with os.scandir(path) as it:
                found = [(e.name, e.stat(follow_symlinks=False)) for e in it]
        except FileNotFoundError:
            raise SourceUnavailable(f"drop folder {path} does not exist") from None
        except OSError as exc:
            raise SourceUnavailable(f"drop folder {path} cannot be read: {exc}") from exc
        return [Entry(n, s.st_size, s.st_mtime, link=stat.S_ISLNK(s.st_mode))
                for n, s in found if stat.S_ISREG(s.st_mode) or stat.S_ISLNK(s.st_mode)]

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes:
        with self._io(f"reading {printable(name)}"), self._open(folder, name) as fh:
            return fh.read(limit)

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> ExportFile:
        tmp = dest.with_name(part_name(dest.name))
        try:
            fin = self._open(folder, name)
        except OSError as exc:
            raise FileUnreadable(f"{self.label}: {printable(name)} cannot be read: {exc}",
                                 hint="it goes to the error folder with a report") from exc
        with self._io(f"copying {printable(name)}"):
            with fin, tmp.open("wb") as fout:
                info = os.fstat(fin.fileno())
                done, sha256 = copy_hashing(fin, fout, info.st_size, progress)
            os.utime(tmp, (info.st_atime, info.st_mtime))
            tmp.replace(dest)
        return ExportFile(dest, name, sha256, done, export_time(name, info.st_mtime))

    def move(self, folder: str, name: str, target: str, as_name: str | None = None) -> str:
        into = self._dir(target)
        with self._io(f"moving {printable(name)} to {target}"):
            into.mkdir(parents=True, exist_ok=True)
            return self._place(self._dir(folder) / name, into, as_name or name)

    def put(self, folder: str, name: str, data: bytes) -> str:
        into = self._dir(folder)
        tmp = into / part_name(name)
        with self._io(f"writing {printable(name)} to {folder}"):
            into.mkdir(parents=True, exist_ok=True)
            try:
                tmp.write_bytes(data)
                return self._place(tmp, into, name)
            finally:
                tmp.unlink(missing_ok=True)  # gone after the place; never left half-written

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

    def folders(self, folder: str) -> list[str]:
        path = self._dir(folder)
        if not path.is_dir():
            return []
        with self._io(f"listing {folder}"), os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))

    def delete(self, folder: str, name: str) -> None:
        with self._io(f"deleting {printable(name)} in {folder}"):
            (self._dir(folder) / name).unlink(missing_ok=True)

    def remove_folder(self, folder: str) -> bool:
        path = self._dir(folder)
        with self._io(f"removing {folder}"):
            with os.scandir(path) as it:
                if next(it, None) is not None:
                    return False
            path.rmdir()
        return True

    def close(self) -> None:
        pass
