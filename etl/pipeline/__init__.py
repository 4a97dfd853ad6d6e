"""Pipeline: the one place that composes the stages and the store.

``check_export`` (`check`): read -> map -> validate, no database. ``import_export`` (`imports`):
check -> diff -> moves -> guard -> load, in one transaction per export, every outcome on record.
The runner (drops) and the CLI call these.
"""

from etl.pipeline.check import CheckResult, check_export, group_exports
from etl.pipeline.imports import ImportResult, holding, import_export, record

__all__ = ["CheckResult", "ImportResult", "check_export", "group_exports", "holding",
           "import_export", "record"]
