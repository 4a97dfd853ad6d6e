"""Shell: log lines for machines and people, on stderr. Every line carries what the thread works
on — source, run id, stage (etl.core.observe) — and never residents' data (the library logs
keys, file names and counts only).

- ``text``: for a terminal — time, level, context, logger, message.
- ``json``: one object per line (time, level, logger, message, source, run_id, stage) for a log
  shipper.
- ``journal``: for systemd — no time of its own (the journal stamps each line) and a ``<N>``
  syslog priority prefix on every line, so that ``journalctl -p err`` finds the errors.
- ``auto``: journal when stderr is the journal's stream (systemd sets ``JOURNAL_STREAM`` to its
  device and inode), text on a terminal, JSON otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO

from etl.core import observe

CONTEXT = ("source", "run_id", "stage")
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
            logging.CRITICAL: 2}  # syslog's: debug, info, warning, err, crit


class LogFormat(StrEnum):
    AUTO = "auto"
    TEXT = "text"
    JSON = "json"
    JOURNAL = "journal"


class _Context(logging.Filter):
    """Puts the thread's source, run id and stage on each record (empty when not known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = observe.current()
        for key in CONTEXT:
            setattr(record, key, context.get(key, ""))
        return True


def _context(record: logging.LogRecord) -> str:
    return " ".join(f"{k}={v}" for k in CONTEXT if (v := getattr(record, k, "")))


def _message(record: logging.LogRecord, formatter: logging.Formatter) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + formatter.formatException(record.exc_info)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        context = _context(record)
        return (f"{stamp} {record.levelname:<7} {f'[{context}] ' if context else ''}"
                f"{record.name}: {_message(record, self)}")


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITY.get(record.levelno, 6)}>"
        context = _context(record)
        text = f"{record.levelname} {f'[{context}] ' if context else ''}{record.name}: " \
            f"{_message(record, self)}"
        return "\n".join(prefix + line for line in text.splitlines())  # each line its priority


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                   timespec="milliseconds"),
               "level": record.levelname, "logger": record.name,
               "message": record.getMessage(),
               **{k: getattr(record, k, "") or None for k in CONTEXT}}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time: a progress display redirects it, so that
    log lines appear above its bars."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


FORMATTERS = {LogFormat.TEXT: TextFormatter, LogFormat.JSON: JsonFormatter,
              LogFormat.JOURNAL: JournalFormatter}


def under_journal(stream: TextIO, environ: dict[str, str] | os._Environ[str] = os.environ
                  ) -> bool:
    """Whether ``stream`` is the systemd journal's stream (``JOURNAL_STREAM`` = device:inode)."""
    try:
        device, inode = (int(x) for x in environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def resolve(chosen: LogFormat, stream: TextIO) -> LogFormat:
    """The format ``auto`` stands for on ``stream``."""
    if chosen is not LogFormat.AUTO:
        return chosen
    if under_journal(stream):
        return LogFormat.JOURNAL
    return LogFormat.TEXT if stream.isatty() else LogFormat.JSON


def configure(level: str, chosen: LogFormat) -> LogFormat:
    """Log to stderr at ``level`` in the ``chosen`` format; returns the format used."""
    used = resolve(chosen, sys.stderr)
    handler = _Stderr()
    handler.addFilter(_Context())
    handler.setFormatter(FORMATTERS[used]())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    return used
