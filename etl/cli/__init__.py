"""Shell: the `etl` command — a few lines per command over `etl.importer.Importer`
(`app`: the app and what its commands share; `exports`, `operations`: the commands)."""

import gc
import os
import sys

from etl.cli import exports, operations
from etl.cli.app import app

__all__ = ["app", "exports", "main", "operations"]


def main() -> None:
    """The console script `etl` (and ``python -m etl``): the app, in a process that never
    synthesises test data. pandera imports hypothesis, for its data synthesis, wherever it is
    installed (a development install); marked absent, the import starts ~0.2 s sooner.

    The cyclic garbage collector waits while the libraries load (`etl.core.settle`: ~0.2 s
    of an import at 160k rows); the work that follows lets it run again.

    On its way out Python collects the cycles of every object the libraries made (~0.15 s
    after an import: a quarter of the same export again). The commands have closed their files
    and database connections by then (`app._Commands.invoke`), so the objects are frozen
    (`gc.freeze`: no collection looks at them again) and the process ends without it.

    Arrow allocates from jemalloc (its Linux wheels have it; ``ARROW_DEFAULT_MEMORY_POOL``
    set by the operator wins): against the default mimalloc, the next export of 800k rows
    takes ~0.5 s and ~85 MB less, the first ~1 s and ~130 MB less (docs/benchmarks.md). Its
    freed pages go back to the system within 0.1 s (``JE_ARROW_MALLOC_CONF``, the operator's
    wins): by default they are only marked free (``MADV_FREE``) and count in the process's
    memory until the kernel needs them — a first import's peak is ~120 MB lower at 160k rows
    and at 800k, in the same time."""
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    if sys.platform == "linux":
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
        os.environ.setdefault("JE_ARROW_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")
    gc.disable()  # while the libraries load; `etl.core.settle` lets it run again
    try:
        app()
    finally:
        gc.freeze()
