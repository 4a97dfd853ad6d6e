"""Drops: where a client's exports arrive and where they go after the import — a local folder
(`local`) or an SFTP server (`sftp`) behind one protocol (`base`); which exports are complete and
their download (`pickup`); archive or error folder (`settle`) with the reports for ERP staff
(`report`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from etl.core.config import DropConfig
from etl.drops.base import Drop
from etl.drops.local import LocalDrop


def open_drop(cfg: DropConfig, source: str, known_hosts: Path,
              environ: Mapping[str, str]) -> Drop:
    """The drop a source's configuration describes (an SFTP server connects on first use)."""
    if cfg.sftp is not None:
        from etl.drops.sftp import SftpDrop  # paramiko: only for a source that needs it

        return SftpDrop(cfg.sftp, cfg.path, known_hosts, environ, source=source)
    return LocalDrop(Path(cfg.path))
