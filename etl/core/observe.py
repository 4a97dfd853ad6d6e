"""Core: what this thread is working on — the source, the run id, the stage — so that every log
line can carry them (the shell's log formats read ``current()``), and the one listener a
terminal may set to show progress (the shell's progress bars).

Threads start empty (each source's pass binds its own source); ``bound`` adds to what the
thread carries for the length of a block, ``at`` names the stage the block has reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

_context: ContextVar[dict[str, str] | None] = ContextVar("etl_observe", default=None)


class Listener(Protocol):
    """Told where each thread's work is: a terminal's progress display."""

    def stage(self, context: dict[str, str]) -> None: ...

    def transferred(self, context: dict[str, str], done: int, total: int) -> None: ...


_listener: list[Listener] = []  # the process's one listener, if any


def listen(listener: Listener | None) -> None:
    """Set (None: remove) the process's listener."""
    _listener[:] = [listener] if listener is not None else []


def current() -> dict[str, str]:
    """Source, run id and stage of this thread's work (as far as they are known)."""
    return dict(_context.get() or {})


@contextmanager
def bound(**values: str) -> Iterator[None]:
    """Adds ``values`` (e.g. ``source=..., run_id=...``) to this thread's context for the block."""
    token = _context.set({**(_context.get() or {}), **values})
    try:
        yield
    finally:
        _context.reset(token)


def at(stage: str, **values: str) -> None:
    """This thread's work (inside a ``bound`` block) has reached ``stage`` (``values``: what
    became known on the way, e.g. the run id; an empty value forgets one)."""
    context = _context.get()
    if context is None:
        return
    context.update(values, stage=stage)
    for listener in _listener:
        listener.stage(dict(context))


def transferred(done: int, total: int) -> None:
    """Bytes of a download so far (a drop's progress callback)."""
    context = current()
    for listener in _listener:
        listener.transferred(context, done, total)
