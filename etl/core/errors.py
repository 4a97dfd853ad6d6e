"""Core: the exception tree of the import.

```
EtlError                  root: names file/line/column where known and what to do next
├── ConfigError           exit 3: config.yaml / mapping YAML / database schema not usable
├── SourceError           exit 5: a drop (local folder or SFTP server) cannot deliver
│   ├── SourceUnavailable connect / timeout / connection lost (after retries): try later
│   ├── HostKeyRefused    the server's host key is unknown or changed: never connect
│   └── AuthRefused       the server refused our key or password
├── RejectedFile          exit 4: terminal for this file -> error folder + report
│   ├── ReadError         the bytes cannot be read as the mapping's CSV dialect
│   └── MappingError      the table does not fit the mapping (a required column is missing)
├── ErasureRefused        exit 4: a person cannot be erased (active in the ERP, or unknown)
└── LoadError             exit 6: database failure, rolled back, the file stays: run again
    └── LoadRefused       the database refused the export's data: terminal for the file
```

A dependency's errors (SQLAlchemy and the database drivers, paramiko and sockets, ``OSError``,
``csv.Error``, ``UnicodeError``, YAML and pydantic) are translated into this tree once, at the
boundary of the room that owns the dependency (`etl.store.errors`, `etl.drops.sftp`,
`etl.drops.local`, `etl.stages.read`, `etl.core.config`), chaining the original. The CLI turns
the tree into one line and the exit code in one place (`etl.cli`); rejected and refused exports
are outcomes, not exceptions (`etl.pipeline.ImportResult`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a problem sits in an export; any part may be unknown."""

    file: str | None = None
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file or "?"]
        if self.line is not None:
            parts.append(f"Zeile/line {self.line}")
        if self.column:
            parts.append(f"Spalte/column {self.column!r}")
        return ", ".join(parts)


class EtlError(Exception):
    """Root of every error the pipeline raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} — {self.hint}" if self.hint else text


class ConfigError(EtlError):
    """Configuration or mapping invalid; ``problems`` lists every problem found."""

    exit_code = 3

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(message + detail)


class SourceError(EtlError):
    """A drop could not deliver one file."""

    exit_code = 5


class SourceUnavailable(SourceError):
    """The drop cannot be reached right now; try again later."""


class HostKeyRefused(SourceError):
    """The SFTP server's host key is unknown or differs from the trusted one: never connect."""


class AuthRefused(SourceError):
    """The SFTP server refused our credentials."""


class RejectedFile(EtlError):
    """Terminal for this file: error folder + report; the database is unchanged."""

    exit_code = 4
    rule = "file"

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        hint: str | None = None,
        *,
        rule: str | None = None,
        message_de: str | None = None,
    ):
        if rule:
            self.rule = rule
        self.message_de = message_de or message
        super().__init__(message, location, hint)


class ReadError(RejectedFile):
    """The bytes cannot be read as the mapping's CSV dialect."""


class MappingError(RejectedFile):
    """The table does not fit the mapping (e.g. a required column is missing)."""


class ErasureRefused(EtlError):
    """A person's erasure was refused: the ERP still holds them (or there is no such person);
    nothing was changed."""

    exit_code = 4


class LoadError(EtlError):
    """The database failed; the transaction was rolled back and the file stays for the next run."""

    exit_code = 6


class LoadRefused(LoadError):
    """The database refused this export's data (a constraint, a value it cannot store): rolled
    back, and trying again would fail again — the file goes to the error folder."""


class PlanOutdated(EtlError):
    """A saved plan no longer fits: its file or the database changed since it was made."""

    exit_code = 4
