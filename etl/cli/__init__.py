"""Shell: the `etl` command — a few lines per command over `etl.importer.Importer`
(`app`: the app and what its commands share; `exports`, `operations`: the commands)."""

import sys

from etl.cli import exports, operations
from etl.cli.app import app

__all__ = ["app", "exports", "main", "operations"]


def main() -> None:
    """The console script `etl` (and ``python -m etl``): the app, in a process that never
    synthesises test data. pandera imports hypothesis, for its data synthesis, wherever it is
    installed (a development install); marked absent, the import starts ~0.2 s sooner."""
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    app()
