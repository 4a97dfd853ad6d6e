"""Work on the other core (`etl.core.meanwhile`): its result or its exception waits in the future,
and its thread ends with it; tables packed there as they come (`etl.core.packed.Packing`)."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from etl.core.meanwhile import meanwhile
from etl.core.packed import Packing


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


def test_packing_packs_the_tables_as_they_come_and_its_thread_ends_when_closed() -> None:
    parts = [pa.table({"hash": pa.array(range(n, n + 3), pa.int64()),
                       "key": pa.array([f"k{i}" for i in range(n, n + 3)], pa.large_string())})
             for n in (0, 3, 6)]
    packing = Packing()
    assert _threads()  # waiting for the tables on its own thread
    for part in parts:
        packing.add(part)
    packed = packing.close().result(5)
    assert packed.rows == 9 and packed.columns == ("hash", "key")
    assert pa.ipc.open_stream(packed.data).read_all().equals(pa.concat_tables(parts))
    for thread in threading.enumerate():
        if thread.name.startswith("meanwhile"):
            thread.join(5)
    assert not _threads()
