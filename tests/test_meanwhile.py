"""Work on the other core (`etl.core.meanwhile`): its result or its exception waits in the future,
and its thread ends with it."""

from __future__ import annotations

import threading

import pytest

from etl.core.meanwhile import meanwhile


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("meanwhile")}


def test_the_result_and_the_exception_wait_in_the_future_and_the_thread_ends() -> None:
    started = threading.Event()

    def work(x: int) -> int:
        started.wait(5)
        return x * 2

    future = meanwhile(work, 21)
    assert _threads()  # working on its own thread while this one goes on
    started.set()
    assert future.result(5) == 42

    def broken() -> None:
        raise ValueError("damaged")

    with pytest.raises(ValueError, match="damaged"):
        meanwhile(broken).result(5)
    for thread in threading.enumerate():
        if thread.name.startswith("meanwhile"):
            thread.join(5)
    assert not _threads()
