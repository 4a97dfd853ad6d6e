"""Core: the application's configuration — `config.yaml` as frozen models.

Checked once, at the edge: every problem is collected and raised together as one ConfigError
(the mappings a source names are loaded and checked too, see `mapping_format`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl.core import cron
from etl.core.database_config import DatabaseConfig
from etl.core.errors import ConfigError
from etl.core.mapping_format import RuleSeverities
from etl.core.mapping_load import load_mapping, read_yaml
from etl.core.monitoring import MetricsConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GuardConfig(_Model):
    max_ended_share: float = Field(0.10, ge=0, le=1, description="of the active tenancies")
    max_shrink: float = Field(0.20, ge=0, le=1, description="drop of resident rows")
    dialect_change: Literal["refuse", "warn"] = Field(
        "refuse", description="a column renamed, added or missing against the last export")


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


Days = Annotated[int | None, Field(ge=0, le=36_500)]


class RetentionConfig(_Model):
    """How long what holds residents' data is kept, in days: deleted (or erased) once at least
    that old; 0 = at the next purge; absent (null) = forever."""

    archive_days: Days = Field(None, description="archived exports (by their archive day)")
    error_days: Days = Field(None, description="rejected exports and their reports")
    staging_days: Days = Field(None, description="copies left in staging by a run that died")
    ended_person_days: Days = Field(
        None, description="personal fields of persons ended this long ago (keys stay)")
    events_days: Days = Field(None, description="change events")

    def over(self, defaults: RetentionConfig) -> RetentionConfig:
        """These settings where given, ``defaults`` elsewhere (an explicit null: forever)."""
        return defaults.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})

    def forever(self) -> list[str]:
        """The settings that keep data forever."""
        return [name for name in type(self).model_fields if getattr(self, name) is None]


class SourceConfig(_Model):
    """One client's drop: whose data it is, how it is read, where it arrives and when."""

    client: str = Field(min_length=1, max_length=64)
    mapping: str
    guard: GuardConfig = GuardConfig()
    move_window_days: int = Field(62, ge=0, le=366)
    drop: DropConfig | None = None
    schedule: str | None = Field(None, description="cron expression for `etl schedule`")
    retention: RetentionConfig = Field(RetentionConfig(),
                                       description="overrides of the top-level retention")
    max_age_hours: float | None = Field(
        None, gt=0, description="etl status: OVERDUE when the last success is older")
    rules: RuleSeverities = Field({}, description="a rule's severity other than the mapping's "
                                  "and the catalogue's: error or warning (etl rules)")
    clients: dict[str, str] = Field(
        {}, description="client codes of the mapping's client_column this source imports, and "
        "as which portal client: {\"100\": wg-nord, \"200\": wg-sued}")
    invalid_rows: Literal["reject_export", "hold"] = Field(
        "hold", description="hold: damaged rows keep their last accepted state, the rest is "
        "imported (etl.stages.hold); reject_export: one error rejects the export")
    max_held_rows: int = Field(100, ge=0, description="more damaged lines: rejected")
    max_held_share: float = Field(0.05, ge=0, le=1, description="of the export's lines")

    @model_validator(mode="after")
    def _own_client(self) -> SourceConfig:
        if self.clients and self.client not in self.clients.values():
            raise ValueError(f"clients: the source's client {self.client!r} is none of "
                             f"{', '.join(sorted(set(self.clients.values())))}")
        return self

    def targets(self) -> list[tuple[str, tuple[str, ...]]]:
        """Each portal client the source feeds, with the client codes whose rows go into it
        (one client and no codes without ``clients``)."""
        out: dict[str, list[str]] = {}
        for code, client in self.clients.items():
            out.setdefault(client, []).append(code)
        return [(c, tuple(codes)) for c, codes in out.items()] or [(self.client, ())]

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            cron.parse(v)
        return v

    @property
    def parsed_schedule(self) -> cron.CronSchedule | None:
        """The checked ``schedule``."""
        return cron.parse(self.schedule) if self.schedule else None


class SchedulerConfig(_Model):
    misfire_grace_seconds: int = Field(300, ge=1, description="a run this late is still started")
    max_parallel: int = Field(2, ge=1, le=32, description="sources imported at the same time")
    purge: str = Field("30 3 * * *", description="cron expression: the daemon's daily purge")

    @field_validator("purge")
    @classmethod
    def _cron(cls, v: str) -> str:
        cron.parse(v)
        return v


# A source's name becomes part of paths (staging, locks) and log lines: letters, digits, '-'
# and '_' only, so that it can never reach outside its folders.
SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


class AppConfig(_Model):
    """config.yaml."""

    mappings_dir: Path = Path("mappings")
    work_dir: Path = Field(Path("var"), description="staging, locks, known_hosts")
    timezone: str = Field("Europe/Berlin", description="of schedules and archive folders")
    database: DatabaseConfig = DatabaseConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    retention: RetentionConfig = Field(RetentionConfig(), description="defaults of every source")
    metrics: MetricsConfig = MetricsConfig()
    umask: str = Field("0077", pattern=r"^0?[0-7]{3}$",
                       description="of every file and folder etl creates (reports, archive "
                       "folders, staging, the SQLite file): by default its own user's only")
    sources: dict[SourceName, SourceConfig] = {}

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

    def retention_of(self, name: str) -> RetentionConfig:
        """The source's retention: its own settings over the top-level defaults."""
        return self.source(name).retention.over(self.retention)

    def known_hosts(self, sftp: SftpConfig | None) -> Path:
        """The known_hosts file of an SFTP drop (default: ``<work_dir>/known_hosts``)."""
        return (sftp.known_hosts if sftp else None) or self.work_dir / "known_hosts"


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
    textfile = _relative_to(base, cfg.metrics.textfile)
    if textfile is not None:
        update["metrics"] = cfg.metrics.model_copy(update={"textfile": textfile})
    return cfg.model_copy(update=update)


def _check_sources(cfg: AppConfig) -> list[str]:
    problems = []
    for name, src in cfg.sources.items():
        path = cfg.mappings_dir / f"{src.mapping}.yaml"
        if not path.is_file():
            problems.append(f"sources.{name}.mapping: {src.mapping!r} not found in "
                            f"{cfg.mappings_dir}")
            continue
        try:
            mapping = load_mapping(str(path), cfg.mappings_dir, maps=False)
        except ConfigError:
            continue  # reported by whoever loads the mapping
        if bool(mapping.client_column) != bool(src.clients):
            problems.append(f"sources.{name}.clients: " + (
                f"mapping {src.mapping!r} reads the client from {mapping.client_column!r}: name "
                f"the codes this source imports, e.g. {{\"100\": {src.client}}}"
                if mapping.client_column else f"mapping {src.mapping!r} has no client_column"))
        if src.drop is None:
            continue
        multi = mapping.multi_file
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
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
        cfg = AppConfig.model_validate(data)
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path} is invalid", problems) from exc
    cfg = _resolve_paths(cfg, path.parent)
    problems = _check_sources(cfg)
    if problems:
        raise ConfigError(f"{path} is invalid", problems)
    return cfg
