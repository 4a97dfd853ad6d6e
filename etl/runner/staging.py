"""Runner, the work folder: each source's staging folder, and a folder per export in it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from etl.core.errors import ConfigError


def staging_of(work_dir: Path, source: str) -> Path:
    """The staging folder of a source — proven to be inside ``<work_dir>/staging``, since
    whatever is in it is deleted."""
    root = (work_dir / "staging").resolve()
    path = (root / source).resolve()
    if path.parent != root:
        raise ConfigError(f"source {source!r}: its staging folder would be outside {root}")
    return path


def work_folder(staging: Path) -> Path:
    """A new folder in staging for one export's files."""
    try:
        return Path(tempfile.mkdtemp(dir=staging))
    except OSError as exc:
        raise ConfigError(f"work folder {staging}: {exc}") from exc


def fresh_folder(path: Path) -> None:
    """An empty folder at ``path`` (whatever a run that died left there is removed)."""
    try:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"work folder {path} cannot be created: {exc}") from exc
