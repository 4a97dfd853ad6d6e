"""Drops: a local folder (or a mounted share) — the embedded default."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from etl.core.errors import SourceError, SourceUnavailable
from etl.core.exports import ExportFile, export_time
from etl.drops.base import CHUNK, Entry, Progress, candidates, copy_hashing, part_name


class LocalDrop:
    """A folder on this machine (or a mounted share)."""

    def __init__(self, base: Path):
        self.base = base
        self.label = str(base)

    def _dir(self, folder: str) -> Path:
        return self.base / folder

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
              progress: Progress | None = None) -> ExportFile:
        src = self._dir(folder) / name
        tmp = dest.with_name(part_name(dest.name))
        with self._io(f"copying {name}"):
            with src.open("rb") as fin, tmp.open("wb") as fout:
                info = os.fstat(fin.fileno())
                done, sha256 = copy_hashing(fin, fout, info.st_size, progress)
            os.utime(tmp, (info.st_atime, info.st_mtime))
            tmp.replace(dest)
        return ExportFile(dest, name, sha256, done, export_time(name, info.st_mtime))

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

    def folders(self, folder: str) -> list[str]:
        path = self._dir(folder)
        if not path.is_dir():
            return []
        with self._io(f"listing {folder}"), os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))

    def delete(self, folder: str, name: str) -> None:
        with self._io(f"deleting {name} in {folder}"):
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
