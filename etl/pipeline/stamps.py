"""Pipeline, when the ERP wrote an export, by the files themselves: a title line or a column
(``export_time`` of a file in the mapping)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from etl.core.mapping_format import Mapping

if TYPE_CHECKING:  # `title_stamp` is also read for the same export again, without pandas
    import pandas as pd

    from etl.core.model import SourceTable


def export_time(mapping: Mapping, tables: dict[str, SourceTable]
                ) -> tuple[datetime | None, pd.DataFrame]:
    """When the ERP wrote the export, by the files themselves (``export_time`` of a file: a
    title line or a column), the latest of them; None when no file says so. A file that should
    say and does not is an ``export_time.unreadable`` warning."""
    from etl.core import findings

    stamps, problems = [], []
    for role, table in tables.items():
        spec = mapping.files[role].export_time
        if spec is None:
            continue
        if spec.title:
            stamp = title_stamp(spec.title, table.title)
            where = {"wo": "den Titelzeilen", "where": "the title lines"}
        else:
            assert spec.column is not None
            values = table.frame.get(spec.column)  # an optional column may be missing
            stamp = None if values is None else _column_stamp(values,
                                                              mapping.dialect.date_formats)
            header = table.headers.get(spec.column, spec.column)
            where = {"wo": f"der Spalte „{header}“", "where": f"column '{header}'"}
        if stamp is None:
            problems.append(findings.make("export_time.unreadable", file=table.file,
                                          line=None, column=None, **where))
        else:
            stamps.append(stamp)
    return max(stamps, default=None), findings.concat(problems)


def title_stamp(pattern: str, title: tuple[str, ...]) -> datetime | None:
    found = re.search(pattern, "\n".join(title))
    if not found:
        return None
    parts = {k: int(v) for k, v in found.groupdict(default="0").items() if k in "ymdHMS"}
    try:
        return datetime(parts["y"], parts["m"], parts["d"], parts.get("H", 0),
                        parts.get("M", 0), parts.get("S", 0), tzinfo=UTC)
    except ValueError:
        return None


def _column_stamp(values: pd.Series, formats: tuple[str, ...]) -> datetime | None:
    """The latest moment of a column, in the dialect's date formats (with a time or not)."""
    import pandas as pd

    text = values.fillna("").astype("str").str.strip()
    moments = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    for fmt in (*formats, *(f"{f} %H:%M" for f in formats), *(f"{f} %H:%M:%S" for f in formats)):
        todo = (text != "") & moments.isna()
        if not todo.any():
            break
        moments[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce").astype(
            "datetime64[s]")
    latest = moments.max()
    return None if pd.isna(latest) else latest.to_pydatetime().replace(tzinfo=UTC)
