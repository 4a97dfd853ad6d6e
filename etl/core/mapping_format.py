"""Core: the mapping format — how one ERP dialect's CSV export (`mappings/<erp>.yaml`) becomes
the canonical entities. Checked once, when a mapping is loaded: every problem is collected and
raised together as one ConfigError (`etl.core.mapping_load`).
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from etl.core import countries, severity
from etl.core.mapping_base import Condition, ExportStamp, Model, Regex


def _severities(given: dict[str, str]) -> dict[str, str]:
    problems = severity.override_problems(given)
    if problems:
        raise ValueError("; ".join(problems))
    return dict(given)


# A mapping's or source's ``rules:`` — a rule's severity other than the catalogue's (etl.core.rules)
RuleSeverities = Annotated[dict[str, str], AfterValidator(_severities)]


class Dialect(Model):
    """How the CSV bytes are written."""

    encoding: str = Field(
        "cp1252", description="legacy encoding used when the bytes have no BOM and are not UTF-8"
    )
    delimiter: str = Field(";", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    decimal: Literal[",", "."] = ","
    thousands: Literal[".", ",", " ", "'", ""] = ""
    date_formats: tuple[str, ...] = ("%d.%m.%Y",)
    open_end: tuple[str, ...] = ("00.00.0000", "0000-00-00", "00000000", "31.12.9999",
                                 "9999-12-31", "99991231")
    header_line: int | Literal["auto"] = "auto"
    footer: Regex | None = Field(
        None, description="regex: trailing lines whose text matches are summary lines, not data"
    )

    @property
    def date_formats_for_people(self) -> str:
        """The date formats as ERP staff read them: ``TT.MM.JJJJ oder JJJJ-MM-TT``."""
        human = {"%d": "TT", "%m": "MM", "%Y": "JJJJ", "%y": "JJ"}
        shown = []
        for fmt in self.date_formats:
            text = fmt
            for code, word in human.items():
                text = text.replace(code, word)
            shown.append(text)
        return " oder ".join(shown)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v


class Column(Model):
    """One source column of a file and how its text is cleaned."""

    header: str
    aliases: tuple[str, ...] = ()
    optional: bool = False
    repeat: tuple[int, ...] | None = Field(
        None, description="expand a column group: '{n}' in the name and header takes each value"
    )
    pad: int | None = Field(None, ge=1, description="left-pad with zeros to this width")
    width: int | None = Field(
        None, ge=1, description="a key's exact width: shorter means leading zeros were lost"
    )
    map: str | None = Field(None, description="name of a value map")
    split: Regex | None = Field(None, description="regex whose named groups become source fields")
    list: Regex | None = Field(
        None, description="regex separating several values: first -> field, rest -> <field>_more"
    )


class FileSpec(Model):
    """One file of an export: which file names it has and which columns it brings."""

    pattern: str = "*"
    export_time: ExportStamp | None = Field(
        None, description="when the ERP wrote the export, from the file itself (else the date "
        "in the file name, else the file's time)")
    columns: dict[str, Column]


class ValueMap(Model):
    """Source codes -> canonical values; matching ignores case and surrounding blanks. A code
    that is none of ``values`` is tried against ``patterns`` in order (regular expressions the
    whole code matches, ignoring case), then takes ``default``; else it is unknown."""

    values: dict[str, str] = Field(default_factory=dict)
    patterns: dict[Regex, str] = Field({}, description="regex (whole code, any case) -> value")
    default: str | None = None

    @property
    def outcomes(self) -> list[str]:
        """Every value the map can give."""
        return [*self.values.values(), *self.patterns.values(),
                *([self.default] if self.default else [])]


class Join(Model):
    join: tuple[str, ...] = Field(min_length=1)


class Const(Model):
    const: str


class PerGroup(Model):
    per_group: tuple[str, ...] = Field(min_length=1)


class Coalesce(Model):
    """The first of several source fields that is not empty (a company tenant's firm where
    the surname is empty; a mobile number where there is no landline)."""

    coalesce: tuple[str, ...] = Field(min_length=2)


FieldExpr = Annotated[str | Join | Const | PerGroup | Coalesce,
                      Field(union_mode="left_to_right")]


def expression_sources(expr: str | Join | Const | PerGroup | Coalesce) -> tuple[str, ...]:
    """The source fields an expression reads (with ``{n}`` of a column group unexpanded)."""
    if isinstance(expr, str):
        return (expr,)
    if isinstance(expr, Join):
        return expr.join
    if isinstance(expr, Coalesce):
        return expr.coalesce
    return ()


class EntitySpec(Model):
    """How one canonical entity is extracted from one file."""

    from_: str = Field(alias="from")
    repeat: tuple[int, ...] | None = None
    where: tuple[Condition, ...] = Field(
        (), description="only rows where all these conditions hold; a source field's name "
        "alone: it is not empty; one condition needs no list")
    fields: dict[str, FieldExpr]

    @field_validator("where", mode="before")
    @classmethod
    def _conditions(cls, v: object) -> object:
        """``where: person``, ``where: {field: …}`` or a list of either: conditions."""
        given = v if isinstance(v, list | tuple) else [] if v is None else [v]
        return [{"field": c} if isinstance(c, str) else c for c in given]


class Mapping(Model):
    """Everything about one ERP dialect."""

    name: str
    title: str
    description: str = ""
    stable_person_keys: bool = Field(
        True, description="false: the ERP gives a person a new number per contract, so a move "
        "can only be guessed (possible_move)")
    dialect: Dialect = Dialect()
    key_separator: str = "/"
    client_column: str | None = Field(
        None, description="a source field holding the ERP's client code (Mandant): a source "
        "imports only the codes it names (clients:), a row of another is an error")
    country: str = Field("DE", description="a building's country where the export names none: "
                         "ISO 3166-1 alpha-2, alpha-3 or numeric")
    value_maps: dict[str, ValueMap] = Field(default_factory=dict)
    rules: RuleSeverities = Field({}, description="a rule's severity other than the catalogue's: "
                                  "error or warning (etl rules)")
    files: dict[str, FileSpec]
    entities: dict[str, EntitySpec]

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        code = countries.alpha2(v)
        if code is None:
            raise ValueError(f"unknown country {v!r} (ISO 3166-1: DE, DEU or 276)")
        return code

    @property
    def multi_file(self) -> bool:
        """An export of this dialect is a set of files (one per role), not one file."""
        return len(self.files) > 1

    def columns(self, role: str) -> dict[str, Column]:
        """The file's columns with column groups expanded ('tenant{n}_id' -> tenant1_id, ...)."""
        out: dict[str, Column] = {}
        for name, col in self.files[role].columns.items():
            if col.repeat is None:
                out[name] = col
                continue
            for n in col.repeat:
                out[name.format(n=n)] = col.model_copy(
                    update={
                        "header": col.header.format(n=n),
                        "aliases": tuple(a.format(n=n) for a in col.aliases),
                        "repeat": None,
                    }
                )
        return out

    def column_of(self, role: str, source_field: str) -> Column | None:
        """The column a source field comes from: itself, a group of its ``split``, or the rest
        of its ``list``."""
        for name, col in self.columns(role).items():
            if source_field == name or (col.list and source_field == f"{name}_more") or (
                    col.split and source_field in re.compile(col.split).groupindex):
                return col
        return None

    def produced_fields(self, role: str) -> set[str]:
        """Source fields available in a file after splitting and list separation."""
        out: set[str] = set()
        for name, col in self.columns(role).items():
            out.add(name)
            if col.split:
                out.update(re.compile(col.split).groupindex)
            if col.list:
                out.add(f"{name}_more")
        return out
