"""Core: time and run ids — every run gets a ``run_id`` (UTC time + a short random suffix) that
appears in every log line, bookkeeping row, archive path and report."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """UTC time plus a short random suffix: sortable, unique across hosts."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
