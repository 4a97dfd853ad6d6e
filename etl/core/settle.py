"""Core: a process settles once its libraries are loaded.

The console script holds the cyclic garbage collector while it imports (`etl.cli.main`): loading
pandas, pyarrow, SQLAlchemy and pandera makes about a million objects that live as long as the
process, and every collection on the way would walk them again (~0.2 s of an import at 160k
rows, a tenth of a next export's). Whatever does the work then calls `settled`.
"""

from __future__ import annotations

import gc
from functools import cache


@cache  # once per process: what a process makes later (a daemon's imports) stays collectable
def settled() -> None:
    """Move the objects alive now out of the collector's sight (`gc.freeze`: they are the
    libraries' modules, classes and functions) and let it run again."""
    gc.freeze()
    gc.enable()
