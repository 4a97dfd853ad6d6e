"""SFTP drops, the connection: TCP and SSH transport with timeouts, the host key checked against
known_hosts or a pinned fingerprint before anything is sent, key or password login, and the
trust of a new host key (`etl sftp trust`, the one way to add one)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko

from etl.core.config import SftpConfig
from etl.core.errors import AuthRefused, ConfigError, HostKeyRefused, SourceUnavailable

WINDOW = 64 << 20
PACKET = 256 << 10

# paramiko's transport thread logs every failure with its traceback; each failure reaches this
# room as an exception too and leaves it as one line of the project's error tree.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def host_id(cfg: SftpConfig) -> str:
    """The server's name as known_hosts writes it."""
    return cfg.host if cfg.port == 22 else f"[{cfg.host}]:{cfg.port}"


def describe(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def known(path: Path) -> paramiko.HostKeys:
    """The keys known_hosts trusts (none when it does not exist); raises ConfigError when it
    cannot be read."""
    keys = paramiko.HostKeys()
    try:
        if path.is_file():
            keys.load(str(path))
    except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
        raise ConfigError(f"known_hosts {path} cannot be read: {exc}") from exc
    return keys


def open_transport(cfg: SftpConfig, key_types: set[str] | None) -> paramiko.Transport:
    """A transport whose SSH handshake is done (nobody logged in yet); raises ConnectionError,
    or paramiko.SSHException when the server does not complete the handshake in time."""
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
        if not transport.is_active() or not transport.initial_kex_done:
            # start_client returns quietly when its timeout passes mid-handshake
            raise paramiko.SSHException(f"no SSH handshake within {cfg.connect_timeout:g} s: "
                                        "is this an SSH server?")
    except BaseException:
        transport.close()
        raise
    return transport


def _server_key(cfg: SftpConfig) -> paramiko.PKey:
    """The host key the server presents (no authentication)."""
    try:
        transport = open_transport(cfg, None)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise SourceUnavailable(f"{cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from exc
    try:
        return transport.get_remote_server_key()
    finally:
        transport.close()


@dataclass(frozen=True)
class HostKeyCheck:
    """The key a server presents and what this host trusts for it (``etl sftp trust``)."""

    host: str  # as known_hosts writes it
    presented: str  # key type and SHA256 fingerprint
    fingerprint: str
    known_hosts: Path
    already_trusted: bool
    replaces: str | None  # the trusted key of the same type that differs from the presented one
    key: paramiko.PKey


def check_host_key(cfg: SftpConfig, known_hosts: Path) -> HostKeyCheck:
    """Connect (without logging in) and compare the server's key with known_hosts; raises
    SourceUnavailable when the server cannot be reached."""
    key = _server_key(cfg)
    entry = known(known_hosts).lookup(host_id(cfg))
    current = entry.get(key.get_name()) if entry else None
    same = current is not None and current.asbytes() == key.asbytes()
    return HostKeyCheck(host_id(cfg), describe(key), key.fingerprint, known_hosts, same,
                        describe(current) if current is not None and not same else None, key)


def trust_host_key(check: HostKeyCheck, confirmed: str | None = None) -> None:
    """Record the presented key as the server's host key of its type (replacing an older one).

    ``confirmed``: the fingerprint the server's administrator confirmed; HostKeyRefused when
    the server presented another. ConfigError when known_hosts cannot be written.
    """
    if confirmed is not None and confirmed != check.fingerprint:
        raise HostKeyRefused(f"the server presents {check.fingerprint}, not the confirmed "
                             f"{confirmed}: not trusted")
    keys = known(check.known_hosts)
    keys.add(check.host, check.key.get_name(), check.key)
    try:
        check.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        keys.save(str(check.known_hosts))
        check.known_hosts.chmod(0o600)
        if os.geteuid() == 0:  # trusted by root for the service: the folder's owner reads it
            folder = check.known_hosts.parent.stat()
            os.chown(check.known_hosts, folder.st_uid, folder.st_gid)
    except OSError as exc:
        raise ConfigError(f"known_hosts {check.known_hosts} cannot be written: {exc}") from exc


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


def verify_host_key(cfg: SftpConfig, known_hosts: Path, source: str, key: paramiko.PKey,
                    entry: Mapping[str, paramiko.PKey] | None) -> None:
    """Raise HostKeyRefused unless ``key`` is the pinned fingerprint or the trusted key."""
    where = f"{cfg.host}:{cfg.port}"
    if cfg.host_key_fingerprint:
        if key.fingerprint != cfg.host_key_fingerprint:
            raise HostKeyRefused(
                f"{where} presented host key {describe(key)}, but the configured "
                f"fingerprint is {cfg.host_key_fingerprint}: refusing to connect",
                hint="if the server was re-keyed, confirm the new key with its "
                "administrator and update host_key_fingerprint")
        return
    trust_cmd = f"etl sftp trust --source {source or 'NAME'}"
    if not entry:
        raise HostKeyRefused(
            f"{where} is not in {known_hosts}: its host key {describe(key)} is not "
            "trusted yet; refusing to connect",
            hint=f"confirm the fingerprint with the server's administrator, then run "
            f"`{trust_cmd}`")
    stored = entry.get(key.get_name())
    if stored is None or stored.asbytes() != key.asbytes():
        known = ", ".join(describe(k) for k in entry.values())
        raise HostKeyRefused(
            f"HOST KEY CHANGED for {where}: it presented {describe(key)}, but "
            f"{known_hosts} trusts {known}. Someone may be intercepting the "
            "connection; refusing to connect",
            hint=f"only if the administrator confirms a re-keyed server: `{trust_cmd}`")


def authenticate(cfg: SftpConfig, transport: paramiko.Transport, environ: Mapping[str, str],
                 label: str) -> None:
    """Log in with the key or password; raises AuthRefused, or ConfigError for a secret that
    cannot be loaded."""
    try:
        if cfg.key_file is not None:
            passphrase = (environ.get(cfg.key_passphrase_env)
                          if cfg.key_passphrase_env else None)
            try:
                pkey = paramiko.PKey.from_path(cfg.key_file, passphrase)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise ConfigError(f"SFTP key file {cfg.key_file} cannot be loaded: "
                                  f"{exc}") from exc
            transport.auth_publickey(cfg.user, pkey)
        else:
            password = _secret(cfg.password_env, cfg.password_file, environ,
                               "SFTP password")
            transport.auth_password(cfg.user, password)
    except paramiko.AuthenticationException as exc:
        raise AuthRefused(f"{label}: the server refused user {cfg.user!r} "
                          f"({'key ' + str(cfg.key_file) if cfg.key_file else 'password'})"
                          f": {exc}") from exc
