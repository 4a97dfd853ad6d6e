"""Core, the mapping format's building blocks (`etl.core.mapping_format`): the strict model
base, regular expressions checked on RE2 and on Python's re, and the parts that test a file's
values — a row's conditions (`where`) and where a file says when it was written."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

if TYPE_CHECKING:
    import pandas as pd


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _checked(pattern: str, info: ValidationInfo) -> str:
    compile_pattern(pattern, info)
    return pattern


# A mapping's regular expression: checked when the mapping loads (compile_pattern).
Regex = Annotated[str, AfterValidator(_checked)]


class ExportStamp(Model):
    """Where a file says when the ERP wrote it: a line above the header (``title``: a regex
    with the named groups ``y``, ``m``, ``d`` and optionally ``H``, ``M``, ``S``), or a
    ``column`` (a source field of the file, read with the dialect's date formats; the latest
    value counts)."""

    title: str | None = None
    column: str | None = None

    @field_validator("title")
    @classmethod
    def _groups(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not {"y", "m", "d"} <= set(compile_pattern(v, info).groupindex):
            raise ValueError("the title pattern needs the named groups y, m and d")
        return v


class Condition(Model):
    """A test of one source field's value as its column cleaned it (trimmed, padded, mapped):
    every test given must hold; with none, the value must not be empty."""

    field: str
    equals: str | None = None
    in_: tuple[str, ...] | None = Field(None, alias="in")
    not_in: tuple[str, ...] | None = None
    matches: Regex | None = Field(None, description="regex the whole value matches (RE2)")
    not_empty: bool | None = None

    def holds(self, values: pd.Series) -> pd.Series:
        """Whether the condition holds for each value (empty values as "")."""
        keep = values.notna()  # "" for empty: all True
        tests = (self.equals, self.in_, self.not_in, self.matches)
        if self.not_empty or (self.not_empty is None and all(t is None for t in tests)):
            keep &= values != ""
        if self.equals is not None:
            keep &= values == self.equals
        if self.in_ is not None:
            keep &= values.isin(self.in_)
        if self.not_in is not None:
            keep &= ~values.isin(self.not_in)
        if self.matches is not None:
            from etl.core import textops  # pyarrow

            keep &= textops.fullmatch(values, self.matches)
        return keep


def compile_pattern(pattern: str, info: ValidationInfo) -> re.Pattern[str]:
    """Patterns run on RE2 (see etl.textops) but name their groups the Python way too; RE2 is
    asked only when the mapping is loaded to map (``info.context``: etl.core.mapping_load)."""
    if (info.context or {}).get("maps", True):
        from etl.core import textops  # pyarrow

        textops.check_pattern(pattern)
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
