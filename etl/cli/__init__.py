"""Shell: the `etl` command — a few lines per command over `etl.importer.Importer`
(`app`: the app and what its commands share; `exports`, `operations`: the commands)."""

from etl.cli import exports, operations
from etl.cli.app import app

__all__ = ["app", "exports", "operations"]
