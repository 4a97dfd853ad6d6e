"""A real OpenSSH sshd on 127.0.0.1 for tests and the SFTP benchmark.

Throwaway host and client keys, a free port, the internal SFTP subsystem, key authentication
only, for the current user. ``Sshd.start(folder)`` returns a running server; ``stop()`` ends it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).exists()), None)
SSH_KEYGEN = shutil.which("ssh-keygen")


def missing() -> str | None:
    """Why no sshd can be started here, or None."""
    if SSHD is None:
        return "OpenSSH sshd is not installed (apt-get install -y openssh-server)"
    if SSH_KEYGEN is None:
        return "ssh-keygen is not installed"
    return None


def keygen(path: Path, kind: str = "ed25519", comment: str = "etl-test") -> Path:
    args = [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "3072"]
    subprocess.run(args, check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    host_key: Path
    client_keys: dict[str, Path]
    process: subprocess.Popen[bytes] | None = None
    extra: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, folder: Path) -> Sshd:
        folder.mkdir(parents=True, exist_ok=True)
        host_key = keygen(folder / "host_ed25519")
        keys = {kind: keygen(folder / f"client_{kind}", kind) for kind in ("ed25519", "rsa")}
        (folder / "authorized_keys").write_text(
            "".join(Path(f"{k}.pub").read_text() for k in keys.values()))
        server = cls(folder, free_port(), getpass.getuser(), host_key, keys)
        server.run()
        return server

    def config(self) -> Path:
        path = self.folder / "sshd_config"
        path.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {self.user}",
            "Subsystem sftp internal-sftp",
            "MaxStartups 100",
            "MaxSessions 50",
            "LogLevel ERROR",
            *self.extra,
        ]) + "\n")
        return path

    def run(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with open(self.folder / "sshd.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config())],
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.folder / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not come up within 10 s")

    def new_host_key(self) -> None:
        """Restart with a different host key (a changed or spoofed server)."""
        self.stop()
        self.host_key.unlink()
        Path(f"{self.host_key}.pub").unlink()
        keygen(self.host_key)
        self.run()

    def sessions(self) -> list[int]:
        """Pids of the per-connection sshd processes (children of the listener)."""
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def kill_sessions(self) -> int:
        """Kill every open connection's sshd process (the network drops mid-transfer)."""
        pids = self.sessions()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill_sessions()
            self.process.terminate()
            self.process.wait(10)
        self.process = None
