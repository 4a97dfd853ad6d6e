"""Core: work done on a thread of its own, so that the machine's other core packs data while this
one waits for the database, or on two threads, so that both cores share the work."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")


def meanwhile(work: Callable[..., T], *args: object) -> Future[T]:
    """``work(*args)`` started on a thread of its own; its result (or its exception) waits in
    the future. For work that lets go of the interpreter's lock most of the time (numpy, Arrow,
    zstd) or that runs while the caller waits on a socket."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="meanwhile")
    try:
        return pool.submit(work, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


# Work on more rows than this (all items together) is done one item at a time: two large
# entities at once would lift the import's peak memory (800k rows: ~+100 MB, docs/benchmarks.md).
BOTH_CORES_ROWS = 1_000_000


def each(work: Callable[[A], T], items: Iterable[A], rows: int) -> list[T]:
    """``[work(item) for item in items]`` in order; two at a time, on both cores, when ``rows``
    (of all items together) are at most ``BOTH_CORES_ROWS``. For whole-column work on separate
    frames (pandas over Arrow, numpy), whose kernels let go of the interpreter's lock: two
    entities take about 0.6 of the time of one after the other. The first exception is raised."""
    items = list(items)
    if rows > BOTH_CORES_ROWS or len(items) < 2:
        # (one item on a thread of its own gains nothing: its allocations come from another
        # malloc arena — 800k multi-file first import +40 MB)
        return [work(item) for item in items]
    with ThreadPoolExecutor(2, thread_name_prefix="both-cores") as pool:
        return list(pool.map(work, items))
