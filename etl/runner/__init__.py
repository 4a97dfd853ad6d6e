"""Runner: passes over sources' drops — pickup -> pipeline -> settle (-> purge) — and what
became of them (`results`); staging folders in the work folder (`staging`)."""

from etl.runner.passes import Runner
from etl.runner.results import ExportOutcome, SourcePass

__all__ = ["ExportOutcome", "Runner", "SourcePass"]
