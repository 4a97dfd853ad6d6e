"""The console script holds the garbage collector while its libraries load; the work lets it run
again, once per process (`etl.core.settle`)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
gc.disable()  # as etl.cli.main does
import pandas  # a library: objects that live as long as the process
from etl.core.settle import settled
settled()
frozen = gc.get_freeze_count()
cycle = []
cycle.append(cycle)
settled()  # a second call (a daemon's next import) freezes nothing more
print(gc.isenabled(), frozen > 100_000, gc.get_freeze_count() == frozen)
"""


def test_settled_freezes_the_libraries_once_and_lets_the_collector_run() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True"]


def test_the_console_script_holds_the_collector_until_the_work_begins() -> None:
    probe = ("import gc; from etl import cli; "
             "cli.app = lambda: print(gc.isenabled()); cli.main()")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"]
