"""The memory a stage freed goes back to the system (`etl.core.trim`): glibc's malloc keeps freed
blocks between the ones still in use, and the process would go on holding them."""

from __future__ import annotations

import sys

import pytest

from etl.core.trim import trim


def _resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_freed_blocks_between_kept_ones_go_back_to_the_system() -> None:
    blocks = [bytes(4000) + bytes([i % 256]) for i in range(25_600)]  # ~100 MB in 4 kB blocks
    kept = blocks[::64]  # one in 64 stays: the freed ones lie between them
    del blocks
    before = _resident_mb()
    trim()
    assert before - _resident_mb() > 60
    assert len(kept) == 400
