"""Runner: passes over sources' drops — pickup -> pipeline -> settle (-> purge) — and what
became of them (`results`); staging folders in the work folder (`staging`); a source's status
(`status`, light: the names below are imported when first used, etl.core.lazy)."""

from typing import TYPE_CHECKING

from etl.core import lazy

if TYPE_CHECKING:
    from etl.runner.passes import Runner
    from etl.runner.results import ExportOutcome, SourcePass

__all__ = ["ExportOutcome", "Runner", "SourcePass"]
__getattr__ = lazy.names(__name__, {"ExportOutcome": "results", "Runner": "passes",
                                    "SourcePass": "results"})
