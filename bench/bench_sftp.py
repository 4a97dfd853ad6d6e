"""SFTP download speed over loopback: the pipeline's SftpDrop.fetch against OpenSSH's own `sftp`
client, on the same ~150 MB export from a real sshd on 127.0.0.1, run alternately.

    .venv/bin/python -m bench.bench_sftp --runs 5

Target (issue 4): fetch at no less than half the speed of `sftp`. Both write to the same local
disk; fetch also hashes (SHA-256) as it goes, as the pipeline does.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.generate import generate, write
from etl.core.config import SftpConfig
from etl.drops.sftp import SftpDrop
from tests.sshd import Sshd, missing

ROWS_150MB = 650_000


def export_150mb(folder: Path) -> Path:
    path = folder / "wodis_150mb.csv"
    if not path.exists():
        write(generate(ROWS_150MB), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    why = missing()
    if why:
        raise SystemExit(why)
    source = export_150mb(args.data)
    size = source.stat().st_size
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        work = Path(tmp)
        server = Sshd.start(work / "sshd")
        try:
            known = work / "known_hosts"
            kind, blob = Path(f"{server.host_key}.pub").read_text().split()[:2]
            known.write_text(f"[127.0.0.1]:{server.port} {kind} {blob}\n")
            key = server.client_keys["ed25519"]
            cfg = SftpConfig(host="127.0.0.1", port=server.port, user=server.user, key_file=key,
                             known_hosts=known)
            remote = source.parent.resolve()
            openssh = [
                "sftp", "-q", "-b", "-", "-i", str(key), "-P", str(server.port),
                "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
                f"{server.user}@127.0.0.1",
            ]
            ours, theirs = [], []
            for _ in range(args.runs):
                target = work / "openssh.csv"
                start = time.perf_counter()
                subprocess.run(openssh, input=f"get {source.resolve()} {target}\n",
                               text=True, check=True, capture_output=True)
                theirs.append(time.perf_counter() - start)
                assert target.stat().st_size == size
                target.unlink()

                drop = SftpDrop(cfg, str(remote), known)
                start = time.perf_counter()
                got = drop.fetch(".", source.name, work / "etl.csv")
                ours.append(time.perf_counter() - start)
                drop.close()
                assert got.size == size
                got.path.unlink()
        finally:
            server.stop()
    mb = size / 1e6
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"file: {source} ({mb:.0f} MB), {args.runs} runs each, alternating")
    print(f"OpenSSH sftp : median {t:.2f} s  ({mb / t:.0f} MB/s)  runs {_fmt(theirs)}")
    print(f"etl fetch    : median {o:.2f} s  ({mb / o:.0f} MB/s)  runs {_fmt(ours)}")
    print(f"etl / OpenSSH speed: {t / o:.2f} (target >= 0.5)")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
