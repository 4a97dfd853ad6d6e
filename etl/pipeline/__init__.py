"""Pipeline: the one place that composes the stages and the store.

``check_export`` (`check`): read -> map -> validate, no database. ``import_export`` (`imports`):
check -> diff -> moves -> guard -> load, in one transaction per export, every outcome on record.
The runner (drops) and the CLI call these. The names below are imported when first used
(etl.core.lazy): the same export again (`again`) is recognised and recorded without pandas.
"""

from typing import TYPE_CHECKING

from etl.core import lazy

if TYPE_CHECKING:
    from etl.pipeline.check import CheckResult, check_export, group_exports
    from etl.pipeline.imports import holding, import_export
    from etl.pipeline.outcome import record
    from etl.pipeline.result import ImportResult

__all__ = ["CheckResult", "ImportResult", "check_export", "group_exports", "holding",
           "import_export", "record"]
__getattr__ = lazy.names(__name__, {"CheckResult": "check", "check_export": "check",
                                    "group_exports": "check", "ImportResult": "result",
                                    "holding": "imports", "import_export": "imports",
                                    "record": "outcome"})
