"""Shared: configuration — `config.yaml` and the ERP mappings (`mappings/*.yaml`) as frozen models.

Everything is checked once, at the edge; every problem is collected and raised together as one
ConfigError.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping as Mapping_
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from etl import textops
from etl.errors import ConfigError
from etl.models import ENTITIES, ROLES, USAGE_TYPES


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
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path))


class GuardConfig(_Model):
    max_ended_share: float = Field(0.10, ge=0, le=1, description="of the active tenancies")
    max_shrink: float = Field(0.20, ge=0, le=1, description="drop of resident rows")


class SftpConfig(_Model):
    """An SFTP server holding a client's drop. Secrets come from the environment or a file."""

    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: str = Field(min_length=1)
    key_file: Path | None = Field(None, description="private key (Ed25519, ECDSA or RSA)")
    key_passphrase_env: str | None = None
    password_env: str | None = None
    password_file: Path | None = Field(None, description="e.g. a systemd credential")
    known_hosts: Path | None = Field(None, description="default: <work_dir>/known_hosts")
    host_key_fingerprint: str | None = Field(
        None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$",
        description="pinned host key, as `ssh-keygen -lf` prints it")
    connect_timeout: float = Field(15, gt=0)
    read_timeout: float = Field(60, gt=0)
    retries: int = Field(4, ge=1, le=20, description="attempts per operation")
    backoff_seconds: float = Field(2, ge=0)
    read_size: int = Field(261_120, ge=4096, le=1 << 20,
                           description="bytes per SFTP read request (OpenSSH serves up to 255 KiB)")
    concurrent_requests: int = Field(32, ge=1, le=256,
                                     description="SFTP read requests in flight")

    @model_validator(mode="after")
    def _auth(self) -> SftpConfig:
        if self.key_file is None and self.password_env is None and self.password_file is None:
            raise ValueError("needs key_file, password_env or password_file")
        return self


class DropConfig(_Model):
    """Where a client's exports arrive: a local folder (default) or an SFTP server."""

    path: str = Field(".", description="local: folder (relative to config.yaml); "
                      "sftp: base folder on the server (relative to the login folder)")
    sftp: SftpConfig | None = None
    inbox: str = "inbox"
    archive: str = "archive"
    error: str = "error"
    pattern: str | None = Field(None, description="file names to take; default: the mapping's")
    marker: str | None = Field(None, pattern=r"^\.[A-Za-z0-9_-]+$",
                               description="e.g. .done: a file is complete when <name>.done "
                               "(or <stem>.done) exists")
    manifest: str | None = Field(None, description="glob of a multi-file export's manifest")
    settle_seconds: float = Field(30, ge=0, le=3600,
                                  description="without a marker: unchanged this long = complete")


def cron_fields(expr: str) -> dict[str, str]:
    """A cron expression (5 fields, or 6 with seconds first) as APScheduler CronTrigger fields."""
    parts = expr.split()
    names = ["minute", "hour", "day", "month", "day_of_week"]
    if len(parts) == 6:
        names = ["second", *names]
    elif len(parts) != 5:
        raise ValueError(f"cron expression {expr!r} needs 5 fields (or 6 with seconds first)")
    return dict(zip(names, parts, strict=True))


class SourceConfig(_Model):
    """One client's drop: whose data it is, how it is read, where it arrives and when."""

    client: str = Field(min_length=1, max_length=64)
    mapping: str
    guard: GuardConfig = GuardConfig()
    move_window_days: int = Field(62, ge=0, le=366)
    drop: DropConfig | None = None
    schedule: str | None = Field(None, description="cron expression for `etl schedule`")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            CronTrigger(**cron_fields(v))
        return v


class DatabaseConfig(_Model):
    url: str = Field("sqlite:///portal.db", description="without password: see password_env")
    password_env: str = Field("ETL_DATABASE_PASSWORD",
                              description="environment variable holding the password")

    @field_validator("url")
    @classmethod
    def _no_secret(cls, v: str) -> str:
        if re.match(r"^[^:]+://[^/@:]+:[^/@]+@", v):
            raise ValueError("the URL holds a password: put it in the environment "
                             "(database.password_env) instead of config.yaml")
        return v


class SchedulerConfig(_Model):
    misfire_grace_seconds: int = Field(300, ge=1, description="a run this late is still started")
    max_parallel: int = Field(2, ge=1, le=32, description="sources imported at the same time")


class AppConfig(_Model):
    """config.yaml."""

    mappings_dir: Path = Path("mappings")
    work_dir: Path = Field(Path("var"), description="staging, locks, known_hosts")
    timezone: str = Field("Europe/Berlin", description="of schedules and archive folders")
    database: DatabaseConfig = DatabaseConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    sources: dict[str, SourceConfig] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    def source(self, name: str) -> SourceConfig:
        """The named source; raises ConfigError naming the known ones."""
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(f"unknown source {name!r} (known: {known})")
        return self.sources[name]

    def known_hosts(self, sftp: SftpConfig) -> Path:
        return sftp.known_hosts or self.work_dir / "known_hosts"

    def database_url(self, environ: Mapping_[str, str]) -> str:
        """The database URL: ETL_DATABASE_URL if set, else database.url with the password from
        the environment variable database.password_env (if set)."""
        if environ.get("ETL_DATABASE_URL"):
            return environ["ETL_DATABASE_URL"]
        url = self.database.url
        password = environ.get(self.database.password_env)
        if password:
            url = re.sub(r"^([^:]+://)([^/@:]+)@", lambda m: f"{m[1]}{m[2]}:{quote(password)}@",
                         url)
        return url


def _relative_to(base: Path, path: Path | None) -> Path | None:
    return None if path is None or path.is_absolute() else base / path


def _resolve_paths(cfg: AppConfig, base: Path) -> AppConfig:
    """Relative paths in config.yaml are relative to the file's folder."""
    sources = {}
    for name, src in cfg.sources.items():
        drop = src.drop
        if drop is not None and drop.sftp is None:
            if not Path(drop.path).is_absolute():
                drop = drop.model_copy(update={"path": str(base / drop.path)})
        elif drop is not None and drop.sftp is not None:
            sftp = drop.sftp
            update = {k: _relative_to(base, getattr(sftp, k))
                      for k in ("key_file", "password_file", "known_hosts")}
            sftp = sftp.model_copy(update={k: v for k, v in update.items() if v is not None})
            drop = drop.model_copy(update={"sftp": sftp})
        sources[name] = src.model_copy(update={"drop": drop})
    update: dict[str, Any] = {"sources": sources}
    for key in ("mappings_dir", "work_dir"):
        resolved = _relative_to(base, getattr(cfg, key))
        if resolved is not None:
            update[key] = resolved
    return cfg.model_copy(update=update)


def _check_sources(cfg: AppConfig) -> list[str]:
    problems = []
    for name, src in cfg.sources.items():
        path = cfg.mappings_dir / f"{src.mapping}.yaml"
        if not path.is_file():
            problems.append(f"sources.{name}.mapping: {src.mapping!r} not found in "
                            f"{cfg.mappings_dir}")
            continue
        if src.drop is None:
            continue
        try:
            multi = len(load_mapping(str(path), cfg.mappings_dir).files) > 1
        except ConfigError:
            continue  # reported by whoever loads the mapping
        if multi and src.drop.manifest is None:
            problems.append(f"sources.{name}.drop.manifest: mapping {src.mapping!r} has several "
                            "files per export; its drop needs a manifest (the file uploaded last)")
        if not multi and src.drop.manifest is not None:
            problems.append(f"sources.{name}.drop.manifest: only for multi-file mappings")
    return problems


def load_config(path: Path) -> AppConfig:
    """config.yaml as a frozen model; a missing file means the defaults. Raises ConfigError."""
    if not path.is_file():
        return AppConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cfg = AppConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path} is invalid", problems) from exc
    cfg = _resolve_paths(cfg, path.parent)
    problems = _check_sources(cfg)
    if problems:
        raise ConfigError(f"{path} is invalid", problems)
    return cfg
