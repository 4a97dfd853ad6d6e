"""Run one benchmark step in a fresh process and measure it (wall time reported by the child,
peak RSS from the kernel)."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(module: str, *args: str) -> tuple[float, float, dict]:
    """(seconds, peak RSS in MB, the child's JSON) of ``python -m module --child args``."""
    proc = subprocess.Popen([sys.executable, "-m", module, "--child", *args],
                            stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"benchmark child {module} {args} failed")
    data = json.loads(out)
    return data["seconds"], usage.ru_maxrss / 1024, data


def compiled() -> None:
    """The package's bytecode written, as an installed wheel has it (pip compiles on install);
    an editable install run with PYTHONDONTWRITEBYTECODE would compile every module of every
    command again (~50 ms), which no installed `etl` does."""
    for package in ("etl", "schemas"):
        compileall.compile_dir(ROOT / package, quiet=1)
