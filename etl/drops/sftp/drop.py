"""SFTP drops, the operations: list, read, download, move and upload below the drop's base
folder, each retried with exponential backoff when the connection fails or drops (it reconnects),
never when the server answers "no". Downloads are pipelined: up to ``concurrent_requests`` (32)
reads of ``read_size`` bytes in flight, over a 64 MiB channel window with 256 KiB packets.

This is the boundary of paramiko's room: its errors, socket errors and ``OSError`` leave it as
SourceError (the server said no), SourceUnavailable (unreachable after the retries),
HostKeyRefused or AuthRefused.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeVar

import paramiko
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from etl.core.config import SftpConfig
from etl.core.errors import AuthRefused, ConfigError, HostKeyRefused, SourceError, SourceUnavailable
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
from etl.drops.sftp.connection import (
    PACKET,
    WINDOW,
    authenticate,
    host_id,
    known,
    open_transport,
    verify_host_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _staged(path: Path) -> BinaryIO:
    """The local copy of a download, opened for writing; its failure is the work folder's."""
    try:
        return path.open("wb")
    except OSError as exc:
        raise ConfigError(f"work folder: cannot write {path}: {exc}") from exc


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _Lost)


class _Lost(Exception):
    """The connection failed or dropped: reconnect and try again."""


class SftpDrop:
    """One SFTP server's drop folders below ``base``; connects lazily, reconnects on failure."""

    def __init__(self, cfg: SftpConfig, base: str, known_hosts: Path,
                 environ: Mapping[str, str] = os.environ, source: str = ""):
        self.cfg = cfg
        self.base = PurePosixPath(base)
        self.known_hosts = known_hosts
        self.environ = environ
        self.source = source
        self.label = f"sftp://{cfg.user}@{cfg.host}:{cfg.port}/{base}"
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection -------------------------------------------------------------------------

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        entry = known(self.known_hosts).lookup(host_id(self.cfg))
        types = set(entry.keys()) if entry and not self.cfg.host_key_fingerprint else None
        transport = open_transport(self.cfg, types)
        try:
            verify_host_key(self.cfg, self.known_hosts, self.source,
                            transport.get_remote_server_key(), entry)
            authenticate(self.cfg, transport, self.environ, self.label)
            sftp = paramiko.SFTPClient.from_transport(transport, window_size=WINDOW,
                                                      max_packet_size=PACKET)
            assert sftp is not None
            sftp.get_channel().settimeout(self.cfg.read_timeout)
        except BaseException:
            transport.close()
            raise
        self._transport, self._sftp = transport, sftp
        log.info("connected to %s", self.label)
        return sftp

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        if self._transport is not None:
            self._transport.close()
        self._sftp = self._transport = None

    def _retry(self, what: str, op: Callable[[paramiko.SFTPClient], T],
               refused: type[SourceError] = SourceError) -> T:
        """``op`` on a connection, retried when the connection fails or drops; the server's
        "no" is ``refused``."""
        def attempt() -> T:
            try:
                return op(self._client())
            except (HostKeyRefused, AuthRefused, ConfigError):
                self.close()
                raise
            except UnicodeError as exc:  # paramiko decodes every name the server sends
                raise SourceError(f"{self.label}: {what}: the server sent a file name that is "
                                  f"not UTF-8 ({exc.reason})",
                                  hint="rename or remove that file on the server") from exc
            except (OSError, EOFError, paramiko.SSHException) as exc:
                alive = self._transport is not None and self._transport.is_active()
                if alive and isinstance(exc, OSError) and not isinstance(
                        exc, ConnectionError | TimeoutError):
                    raise refused(f"{self.label}: {what}: {exc}") from exc  # a real "no"
                self.close()
                raise _Lost(f"{type(exc).__name__}: {exc}") from exc

        retrying = Retrying(
            stop=stop_after_attempt(self.cfg.retries),
            wait=wait_exponential(multiplier=self.cfg.backoff_seconds, max=60),
            retry=retry_if_exception(_transient),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Lost as exc:
            raise SourceUnavailable(f"{self.label}: {what} failed after {self.cfg.retries} "
                                    f"attempts: {exc}") from exc

    def _path(self, folder: str, name: str | None = None) -> str:
        path = self.base / folder
        return str(path / name) if name else str(path)

    # -- operations ---------------------------------------------------------------------------

    def list(self, folder: str) -> list[Entry]:
        def op(sftp: paramiko.SFTPClient) -> list[Entry]:
            try:
                attrs = sftp.listdir_attr(self._path(folder))
            except FileNotFoundError:
                raise SourceError(f"{self.label}: folder {folder!r} does not exist on the "
                                  "server") from None
            return [Entry(a.filename, a.st_size or 0, float(a.st_mtime or 0),
                          link=stat.S_ISLNK(a.st_mode)) for a in attrs
                    if a.st_mode is not None and (stat.S_ISREG(a.st_mode)
                                                  or stat.S_ISLNK(a.st_mode))]

        return self._retry(f"listing {folder}", op)

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes:
        def op(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(self._path(folder, name), "rb") as fh:
                return fh.read(limit)

        return self._retry(f"reading {name}", op)

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> ExportFile:
        """Download into ``dest`` via a hidden temporary name; complete or not at all."""
        tmp = dest.with_name(part_name(dest.name))

        def op(sftp: paramiko.SFTPClient) -> ExportFile:
            remote = self._path(folder, name)
            info = sftp.stat(remote)
            size = info.st_size or 0
            with sftp.open(remote, "rb") as src, _staged(tmp) as out:
                src.MAX_REQUEST_SIZE = self.cfg.read_size
                src.prefetch(size, self.cfg.concurrent_requests)
                done, sha256 = copy_hashing(src, out, size, progress)
            if done != size:
                raise EOFError(f"{name}: got {done} of {size} bytes")
            os.utime(tmp, (info.st_atime or info.st_mtime or 0, info.st_mtime or 0))
            tmp.replace(dest)
            return ExportFile(dest, name, sha256, done, export_time(name, info.st_mtime or 0))

        try:
            return self._retry(f"downloading {printable(name)}", op, FileUnreadable)
        finally:
            tmp.unlink(missing_ok=True)

    def _makedirs(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        path = self.base
        for part in PurePosixPath(folder).parts:
            path = path / part
            try:
                sftp.stat(str(path))
            except FileNotFoundError:
                sftp.mkdir(str(path))

    def _place(self, sftp: paramiko.SFTPClient, src: str, folder: str, name: str) -> str:
        for candidate in candidates(name):
            target = self._path(folder, candidate)
            try:
                sftp.rename(src, target)  # SSH_FXP_RENAME refuses an existing target
                return candidate
            except OSError:
                try:
                    sftp.stat(target)
                except FileNotFoundError:
                    raise  # not a name clash: a real failure
        raise AssertionError("unreachable")

    def move(self, folder: str, name: str, target: str, as_name: str | None = None) -> str:
        def op(sftp: paramiko.SFTPClient) -> str:
            self._makedirs(sftp, target)
            return self._place(sftp, self._path(folder, name), target, as_name or name)

        return self._retry(f"moving {printable(name)} to {target}", op)

    def put(self, folder: str, name: str, data: bytes) -> str:
        def op(sftp: paramiko.SFTPClient) -> str:
            self._makedirs(sftp, folder)
            tmp = self._path(folder, part_name(name))
            try:
                sftp.putfo(io.BytesIO(data), tmp, file_size=len(data), confirm=True)
                return self._place(sftp, tmp, folder, name)
            except BaseException:
                with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                    sftp.remove(tmp)  # never left half-written
                raise

        return self._retry(f"uploading {printable(name)}", op)

    def folders(self, folder: str) -> list[str]:
        def op(sftp: paramiko.SFTPClient) -> list[str]:
            try:
                attrs = sftp.listdir_attr(self._path(folder))
            except FileNotFoundError:
                return []
            return sorted(a.filename for a in attrs
                          if a.st_mode is not None and stat.S_ISDIR(a.st_mode))

        return self._retry(f"listing {folder}", op)

    def delete(self, folder: str, name: str) -> None:
        def op(sftp: paramiko.SFTPClient) -> None:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(self._path(folder, name))

        self._retry(f"deleting {name} in {folder}", op)

    def remove_folder(self, folder: str) -> bool:
        def op(sftp: paramiko.SFTPClient) -> bool:
            if sftp.listdir(self._path(folder)):
                return False
            sftp.rmdir(self._path(folder))
            return True

        return self._retry(f"removing {folder}", op)
