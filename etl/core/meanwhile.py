"""Core: work done on a thread of its own, so that the machine's other core packs data while this
one waits for the database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def meanwhile(work: Callable[..., T], *args: object) -> Future[T]:
    """``work(*args)`` started on a thread of its own; its result (or its exception) waits in
    the future. For work that lets go of the interpreter's lock most of the time (numpy, Arrow,
    zstd) or that runs while the caller waits on a socket."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="meanwhile")
    try:
        return pool.submit(work, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task
