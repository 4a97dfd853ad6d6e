"""Core: the mapping format — how one ERP dialect's CSV export (`mappings/<erp>.yaml`) becomes
the canonical entities. Checked once, when a mapping is loaded: every problem is collected and
raised together as one ConfigError.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from etl.core import textops
from etl.core.errors import ConfigError
from etl.core.model import ENTITIES, ROLES, USAGE_TYPES


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Dialect(_Model):
    """How the CSV bytes are written."""

    encoding: str = Field(
        "cp1252", description="legacy encoding used when the bytes have no BOM and are not UTF-8"
    )
    delimiter: str = Field(";", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    decimal: Literal[",", "."] = ","
    thousands: Literal[".", ",", " ", ""] = ""
    date_formats: tuple[str, ...] = ("%d.%m.%Y",)
    open_end: tuple[str, ...] = ("00.00.0000", "0000-00-00", "00000000", "31.12.9999",
                                 "9999-12-31", "99991231")
    header_line: int | Literal["auto"] = "auto"
    footer: str | None = Field(
        None, description="regex: trailing lines whose text matches are summary lines, not data"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v

    @field_validator("footer")
    @classmethod
    def _footer_regex(cls, v: str | None) -> str | None:
        if v is not None:
            _compile(v)
        return v


class Column(_Model):
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
    split: str | None = Field(None, description="regex whose named groups become source fields")
    list: str | None = Field(
        None, description="regex separating several values: first -> field, rest -> <field>_more"
    )

    @field_validator("split", "list")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            _compile(v)
        return v


class FileSpec(_Model):
    """One file of an export: which file names it has and which columns it brings."""

    pattern: str = "*"
    columns: dict[str, Column]


class ValueMap(_Model):
    """Source codes -> canonical values; matching ignores case and surrounding blanks."""

    values: dict[str, str]
    default: str | None = None


class Join(_Model):
    join: tuple[str, ...] = Field(min_length=1)


class Const(_Model):
    const: str


class PerGroup(_Model):
    per_group: tuple[str, ...] = Field(min_length=1)


FieldExpr = Annotated[str | Join | Const | PerGroup, Field(union_mode="left_to_right")]


class EntitySpec(_Model):
    """How one canonical entity is extracted from one file."""

    from_: str = Field(alias="from")
    repeat: tuple[int, ...] | None = None
    where: str | None = Field(None, description="only rows where this source field is not empty")
    fields: dict[str, FieldExpr]


class Mapping(_Model):
    """Everything about one ERP dialect."""

    name: str
    title: str
    description: str = ""
    stable_person_keys: bool = Field(
        True, description="false: the ERP gives a person a new number per contract, so a move "
        "can only be guessed (possible_move)")
    dialect: Dialect = Dialect()
    key_separator: str = "/"
    value_maps: dict[str, ValueMap] = {}
    files: dict[str, FileSpec]
    entities: dict[str, EntitySpec]

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


def _compile(pattern: str) -> re.Pattern[str]:
    """Patterns run on RE2 (see etl.textops) but name their groups the Python way too."""
    textops.check_pattern(pattern)
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc


def _expr_sources(expr: Join | Const | PerGroup | str) -> tuple[str, ...]:
    if isinstance(expr, str):
        return (expr,)
    if isinstance(expr, Join):
        return expr.join
    return ()


def _check_semantics(m: Mapping) -> list[str]:
    """Every cross-reference problem of a structurally valid mapping."""
    problems: list[str] = []
    for role, spec in m.files.items():
        for name, col in spec.columns.items():
            if col.repeat is not None and "{n}" not in name:
                problems.append(f"files.{role}.columns.{name}: a repeated column needs '{{n}}'")
            if col.map and col.map not in m.value_maps:
                problems.append(f"files.{role}.columns.{name}: unknown value map {col.map!r}")
    for ename, espec in m.entities.items():
        where = f"entities.{ename}"
        entity = ENTITIES.get(ename)
        if entity is None:
            problems.append(f"{where}: unknown entity (known: {', '.join(ENTITIES)})")
            continue
        if espec.from_ not in m.files:
            problems.append(f"{where}.from: unknown file {espec.from_!r}")
            continue
        available = m.produced_fields(espec.from_)
        groups = espec.repeat or (0,)
        for fname, expr in espec.fields.items():
            if fname not in entity.field_names:
                problems.append(f"{where}.fields.{fname}: not a field of {ename}")
            if isinstance(expr, PerGroup) and len(expr.per_group) != len(groups):
                problems.append(f"{where}.fields.{fname}: per_group needs one value per group")
            for src in _expr_sources(expr):
                for n in groups:
                    if src.format(n=n) not in available:
                        problems.append(
                            f"{where}.fields.{fname}: unknown source field {src.format(n=n)!r}"
                        )
        for f in entity.fields:
            if f.required and f.name not in espec.fields:
                problems.append(f"{where}.fields: required field {f.name!r} is not mapped")
        if espec.where:
            for n in groups:
                if espec.where.format(n=n) not in available:
                    problems.append(f"{where}.where: unknown source field {espec.where!r}")
    for ename in ENTITIES:
        if ename not in m.entities:
            problems.append(f"entities: {ename!r} is not mapped")
    allowed = {"usage_type": USAGE_TYPES, "role": ROLES}
    for ename, espec in m.entities.items():
        for fname, expr in espec.fields.items():
            if fname not in allowed:
                continue
            consts: list[str] = []
            if isinstance(expr, Const):
                consts = [expr.const]
            elif isinstance(expr, PerGroup):
                consts = list(expr.per_group)
            cols = m.columns(espec.from_)
            for src in _expr_sources(expr):
                for n in espec.repeat or (0,):
                    col = cols.get(src.format(n=n))
                    if col is not None and col.map in m.value_maps:
                        vmap = m.value_maps[col.map]
                        consts += [*vmap.values.values(), *([vmap.default] if vmap.default else [])]
            problems += [
                f"entities.{ename}.fields.{fname}: {v!r} is not one of {', '.join(allowed[fname])}"
                for v in sorted(set(consts) - set(allowed[fname]))
            ]
    return problems


def parse_mapping(data: Any, origin: str) -> Mapping:
    """A Mapping from parsed YAML; raises ConfigError naming every problem."""
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(f"mapping {origin} is invalid", problems) from exc
    problems = _check_semantics(mapping)
    if problems:
        raise ConfigError(f"mapping {origin} is invalid", problems)
    return mapping


def load_mapping(name_or_path: str, mappings_dir: Path) -> Mapping:
    """Load a mapping by name (``mappings_dir/<name>.yaml``) or by path; raises ConfigError."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = mappings_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in mappings_dir.glob("*.yaml"))) or "none"
        raise ConfigError(f"mapping {name_or_path!r} not found in {mappings_dir} (known: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"mapping {path} cannot be read: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path))
