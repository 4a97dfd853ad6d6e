"""Pipeline, the same content again (issue 13): an export whose data lines are, byte for byte,
those of the last accepted export — read with the same mapping, source rules and code — changes
nothing, and is known to without parsing, mapping, validating or comparing a row.

The digest (``raw_digest`` of the snapshot) covers, per file role, the bytes from the header
line to the end and the encoding they were read in, plus a fingerprint of everything else that
decides what those bytes become: the mapping, the source's rule severities and client codes,
the package's code (the rule catalogue and the pandera schemas with it) and the versions of
the libraries that parse and check. An export leaves it only when it was clean — not one
finding, so there is nothing a report would have to say again — and when the lines above its
headers are plain ASCII (they could otherwise change how the rest decodes)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Collection
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from etl.core.errors import SourceError
from etl.core.exports import ExportFile
from etl.core.mapping_format import Mapping
from etl.pipeline.stamps import title_stamp
from etl.stages.read.raw import body_digest, head_of

_LIBRARIES = ("pandas", "pyarrow", "pandera", "numpy", "pycountry")


@dataclass(frozen=True)
class Seen:
    """An export found to be the last accepted one again."""

    raw_digest: str
    export_time: datetime | None  # by the files' title lines; None: by the files themselves


@functools.cache
def _code() -> str:
    """The package's and the schemas' source files and the parsing libraries' versions."""
    digest = hashlib.sha256()
    for package in ("etl", "schemas"):  # found, not imported (schemas would import pandera)
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    for library in _LIBRARIES:
        digest.update(f"{library}={metadata.version(library)}\0".encode())
    return digest.hexdigest()


def fingerprint(mapping: Mapping, severity: Lookup[str, str], clients: Collection[str],
                only: Collection[str]) -> str:
    """What decides how an export's bytes are read, besides the bytes."""
    given = [mapping.model_dump(mode="json"), dict(sorted(severity.items())), sorted(clients),
             sorted(only), _code()]
    return hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()


def raw_digest(fingerprint: str, bodies: Lookup[str, str | None]) -> str | None:
    """The export's digest from its files' (``body_digest`` per role); None when one has none."""
    if any(body is None for body in bodies.values()):
        return None
    seen = json.dumps([fingerprint, sorted(bodies.items())])
    return hashlib.sha256(seen.encode()).hexdigest()


_BODIES: dict[tuple[str, int, str], str | None] = {}
_READ: dict[str, bytes] = {}  # the last file read, by its SHA-256


def read(file: ExportFile) -> bytes:
    """A file's bytes, kept (one file) until `forget`: the check for the same lines and the
    read of the changed ones both need them. Raises OSError."""
    if file.sha256 not in _READ:
        _READ.clear()
        _READ[file.sha256] = file.path.read_bytes()
    return _READ[file.sha256]


def keep(file: ExportFile, data: bytes) -> ExportFile:
    """``file`` with its bytes ``data``, read already, kept for `read` (in place of the last)."""
    _READ.clear()
    _READ[file.sha256] = data
    return file


def forget() -> None:
    """Let go of the bytes `read` kept."""
    _READ.clear()



def body_of(file: ExportFile, data: bytes, header_line: int, encoding: str) -> str | None:
    """`body_digest` of a file's bytes, remembered by their SHA-256 for the rest of the
    process: the check for the same lines and the read of the changed ones both need it."""
    key = (file.sha256, header_line, encoding)
    if key not in _BODIES:
        if len(_BODIES) >= 16:
            _BODIES.clear()
        _BODIES[key] = body_digest(data, header_line, encoding)
    return _BODIES[key]


def probe(roles: Lookup[str, ExportFile], mapping: Mapping, fingerprint: str,
          dialect: Lookup[str, dict] | None, expected: str | None) -> Seen | None:
    """``Seen`` when the export's raw digest is ``expected`` (the last accepted export's) and the
    title lines give every export time the mapping reads from them; else None: read it all.
    ``roles``: the export's file per role; ``dialect``: the last accepted export's form (the
    encoding each role was read in)."""
    if expected is None or not dialect or set(roles) != set(dialect):
        return None
    bodies: dict[str, str | None] = {}
    stamps: list[datetime] = []
    for role, file in roles.items():
        read = _head(file, role, mapping, dialect[role].get("encoding"))
        if read is None:
            return None
        bodies[role], stamp = read
        stamps += [stamp] if stamp is not None else []
    if raw_digest(fingerprint, bodies) != expected:
        return None
    return Seen(expected, max(stamps, default=None))


def _head(file: ExportFile, role: str, mapping: Mapping, encoding: str | None
          ) -> tuple[str | None, datetime | None] | None:
    """A file's body digest and the time its title lines give (None when the mapping reads no
    time from them); None when it cannot be told without reading the rows."""
    spec = mapping.files[role].export_time
    if not encoding or (spec is not None and spec.column):  # a column's time needs the rows
        return None
    try:
        data = read(file)
    except OSError as exc:
        raise SourceError(f"{file.name} cannot be read: {exc}") from exc
    head = head_of(data, file.name, mapping.columns(role), mapping.dialect, encoding)
    if head is None:
        return None
    body = body_of(file, data, head[0], encoding)
    if spec is None:
        return body, None
    stamp = title_stamp(spec.title or "", head[1])
    return None if stamp is None else (body, stamp)  # no time: the full read reports it
