"""Core: the memory a stage freed, given back to the system.

glibc's malloc keeps what numpy and pandas free for the next allocation, in the middle of its
heap where it cannot shrink: after reading a file or mapping a part of one, 70–130 MB that the
process still holds (an 800k-row export). The next stage's arrays rarely fit those holes, so
the process grows by what it freed. ``malloc_trim`` returns every free page (~10 ms).
Arrow's buffers come from jemalloc, which returns its own (`etl.cli.main`).
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc's
    except (OSError, AttributeError):  # another C library
        return None


def trim() -> None:
    """Give the pages malloc holds free back to the system (glibc; elsewhere nothing)."""
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)
