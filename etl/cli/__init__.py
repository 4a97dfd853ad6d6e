"""Shell: the `etl` command — a few lines per command over `etl.importer.Importer`
(`app`: the app and what its commands share; `exports`, `operations`: the commands)."""

import gc
import sys

from etl.cli import exports, operations
from etl.cli.app import app

__all__ = ["app", "exports", "main", "operations"]


def main() -> None:
    """The console script `etl` (and ``python -m etl``): the app, in a process that never
    synthesises test data. pandera imports hypothesis, for its data synthesis, wherever it is
    installed (a development install); marked absent, the import starts ~0.2 s sooner.

    On its way out Python collects the cycles of every object the libraries made (~0.15 s
    after an import: a quarter of the same export again). The commands have closed their files
    and database connections by then (`app._Commands.invoke`), so the objects are frozen
    (`gc.freeze`: no collection looks at them again) and the process ends without it."""
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    try:
        app()
    finally:
        gc.freeze()
