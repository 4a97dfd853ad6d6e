"""SFTP drops (paramiko).

- The server's host key is verified against the source's known_hosts file or a pinned SHA256
  fingerprint before anything is sent; an unknown or changed key is refused, never added.
  ``etl sftp trust`` (``server_key`` + ``trust``) is the one way to add it.
- Key (Ed25519, ECDSA, RSA) or password authentication; secrets from the environment or a file.
- Connect, handshake and read timeouts; every operation is retried with exponential backoff when
  the connection fails or drops (it reconnects), never when the server answers "no".
- Downloads are pipelined: up to ``concurrent_requests`` (32) reads of ``read_size`` bytes in
  flight, over a 64 MiB channel window with 256 KiB packets.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import stat
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TypeVar

import paramiko
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from etl.config import SftpConfig
from etl.drops import CHUNK, Entry, Fetched, Progress, candidates, copy_hashing, part_name
from etl.errors import AuthRefused, ConfigError, HostKeyRefused, SourceError, SourceUnavailable

log = logging.getLogger(__name__)

WINDOW = 64 << 20
PACKET = 256 << 10
T = TypeVar("T")


def host_id(cfg: SftpConfig) -> str:
    """The server's name as known_hosts writes it."""
    return cfg.host if cfg.port == 22 else f"[{cfg.host}]:{cfg.port}"


def describe(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _known(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    return keys


def _open_transport(cfg: SftpConfig, key_types: set[str] | None) -> paramiko.Transport:
    try:
        sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.connect_timeout)
    except OSError as exc:
        raise ConnectionError(f"cannot connect to {cfg.host}:{cfg.port}: {exc}") from exc
    transport = paramiko.Transport(sock, default_window_size=WINDOW,
                                   default_max_packet_size=PACKET)
    transport.banner_timeout = transport.handshake_timeout = cfg.connect_timeout
    transport.auth_timeout = cfg.connect_timeout
    if key_types:
        if "ssh-rsa" in key_types:
            key_types |= {"rsa-sha2-512", "rsa-sha2-256"}
        options = transport.get_security_options()
        preferred = [t for t in options.key_types if t in key_types]
        if preferred:
            options.key_types = preferred
    try:
        transport.start_client(timeout=cfg.connect_timeout)
    except BaseException:
        transport.close()
        raise
    return transport


def server_key(cfg: SftpConfig) -> paramiko.PKey:
    """The host key the server presents (no authentication): for ``etl sftp trust``."""
    try:
        transport = _open_transport(cfg, None)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise SourceUnavailable(f"{cfg.host}:{cfg.port}: {exc}") from exc
    try:
        return transport.get_remote_server_key()
    finally:
        transport.close()


def trust(known_hosts: Path, cfg: SftpConfig, key: paramiko.PKey) -> None:
    """Record ``key`` as the server's host key of its type (replacing an older one)."""
    keys = _known(known_hosts)
    keys.add(host_id(cfg), key.get_name(), key)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    keys.save(str(known_hosts))
    known_hosts.chmod(0o600)


def trusted_key(known_hosts: Path, cfg: SftpConfig, key_type: str) -> paramiko.PKey | None:
    entry = _known(known_hosts).lookup(host_id(cfg))
    return entry.get(key_type) if entry else None


def _secret(env: str | None, file: Path | None, environ: Mapping[str, str], what: str) -> str:
    if env:
        if env not in environ:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return environ[env]
    assert file is not None
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {file}: {exc}") from exc


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

    def _verify(self, key: paramiko.PKey, entry: Mapping[str, paramiko.PKey] | None) -> None:
        where = f"{self.cfg.host}:{self.cfg.port}"
        if self.cfg.host_key_fingerprint:
            if key.fingerprint != self.cfg.host_key_fingerprint:
                raise HostKeyRefused(
                    f"{where} presented host key {describe(key)}, but the configured "
                    f"fingerprint is {self.cfg.host_key_fingerprint}: refusing to connect",
                    hint="if the server was re-keyed, confirm the new key with its "
                    "administrator and update host_key_fingerprint")
            return
        trust_cmd = f"etl sftp trust --source {self.source or 'NAME'}"
        if not entry:
            raise HostKeyRefused(
                f"{where} is not in {self.known_hosts}: its host key {describe(key)} is not "
                "trusted yet; refusing to connect",
                hint=f"confirm the fingerprint with the server's administrator, then run "
                f"`{trust_cmd}`")
        stored = entry.get(key.get_name())
        if stored is None or stored.asbytes() != key.asbytes():
            known = ", ".join(describe(k) for k in entry.values())
            raise HostKeyRefused(
                f"HOST KEY CHANGED for {where}: it presented {describe(key)}, but "
                f"{self.known_hosts} trusts {known}. Someone may be intercepting the "
                "connection; refusing to connect",
                hint=f"only if the administrator confirms a re-keyed server: `{trust_cmd}`")

    def _auth(self, transport: paramiko.Transport) -> None:
        cfg = self.cfg
        try:
            if cfg.key_file is not None:
                passphrase = (self.environ.get(cfg.key_passphrase_env)
                              if cfg.key_passphrase_env else None)
                try:
                    pkey = paramiko.PKey.from_path(cfg.key_file, passphrase)
                except (OSError, paramiko.SSHException, ValueError) as exc:
                    raise ConfigError(f"SFTP key file {cfg.key_file} cannot be loaded: "
                                      f"{exc}") from exc
                transport.auth_publickey(cfg.user, pkey)
            else:
                password = _secret(cfg.password_env, cfg.password_file, self.environ,
                                   "SFTP password")
                transport.auth_password(cfg.user, password)
        except paramiko.AuthenticationException as exc:
            raise AuthRefused(f"{self.label}: the server refused user {cfg.user!r} "
                              f"({'key ' + str(cfg.key_file) if cfg.key_file else 'password'})"
                              f": {exc}") from exc

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is not None:
            return self._sftp
        entry = _known(self.known_hosts).lookup(host_id(self.cfg))
        types = set(entry.keys()) if entry and not self.cfg.host_key_fingerprint else None
        transport = _open_transport(self.cfg, types)
        try:
            self._verify(transport.get_remote_server_key(), entry)
            self._auth(transport)
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

    def _retry(self, what: str, op: Callable[[paramiko.SFTPClient], T]) -> T:
        def attempt() -> T:
            try:
                return op(self._client())
            except (HostKeyRefused, AuthRefused, ConfigError):
                self.close()
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                alive = self._transport is not None and self._transport.is_active()
                if alive and isinstance(exc, OSError) and not isinstance(
                        exc, ConnectionError | TimeoutError):
                    raise SourceError(f"{self.label}: {what}: {exc}") from exc  # a real "no"
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
            return [Entry(a.filename, a.st_size or 0, float(a.st_mtime or 0)) for a in attrs
                    if a.st_mode is not None and stat.S_ISREG(a.st_mode)]

        return self._retry(f"listing {folder}", op)

    def read_small(self, folder: str, name: str, limit: int = CHUNK) -> bytes:
        def op(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(self._path(folder, name), "rb") as fh:
                return fh.read(limit)

        return self._retry(f"reading {name}", op)

    def fetch(self, folder: str, name: str, dest: Path,
              progress: Progress | None = None) -> Fetched:
        """Download into ``dest`` via a hidden temporary name; complete or not at all."""
        tmp = dest.with_name(part_name(dest.name))

        def op(sftp: paramiko.SFTPClient) -> Fetched:
            remote = self._path(folder, name)
            info = sftp.stat(remote)
            size = info.st_size or 0
            with sftp.open(remote, "rb") as src, tmp.open("wb") as out:
                src.MAX_REQUEST_SIZE = self.cfg.read_size
                src.prefetch(size, self.cfg.concurrent_requests)
                done, sha256 = copy_hashing(src, out, size, progress)
            if done != size:
                raise EOFError(f"{name}: got {done} of {size} bytes")
            os.utime(tmp, (info.st_atime or info.st_mtime or 0, info.st_mtime or 0))
            tmp.replace(dest)
            return Fetched(dest, done, sha256)

        try:
            return self._retry(f"downloading {name}", op)
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

    def move(self, folder: str, name: str, target: str) -> str:
        def op(sftp: paramiko.SFTPClient) -> str:
            self._makedirs(sftp, target)
            return self._place(sftp, self._path(folder, name), target, name)

        return self._retry(f"moving {name} to {target}", op)

    def put(self, folder: str, name: str, data: bytes) -> str:
        def op(sftp: paramiko.SFTPClient) -> str:
            self._makedirs(sftp, folder)
            tmp = self._path(folder, part_name(name))
            sftp.putfo(io.BytesIO(data), tmp, file_size=len(data), confirm=True)
            return self._place(sftp, tmp, folder, name)

        return self._retry(f"uploading {name}", op)
