"""Work on the other core (`etl.core.meanwhile`): its result or its exception waits in the future,
and its thread ends with it; tables packed there as they come (`etl.core.packed.Packing`); work
on both cores (`each`) gives what one item after the other gives."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from etl.core import meanwhile as meanwhile_module
from etl.core.meanwhile import each, meanwhile
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


def test_each_works_two_at_a_time_in_order_and_one_at_a_time_above_its_rows() -> None:
    both = threading.Barrier(2, timeout=5)  # passed only when two items are worked on at once

    def work(x: int) -> tuple[int, str]:
        if x < 2:
            both.wait()
        return x * x, threading.current_thread().name

    out = each(work, range(6), rows=6)
    assert [square for square, _ in out] == [0, 1, 4, 9, 16, 25]
    assert {name for _, name in out[:2]} == {"both-cores_0", "both-cores_1"}

    alone = each(lambda x: threading.current_thread().name, range(3),
                 rows=meanwhile_module.BOTH_CORES_ROWS + 1)
    assert alone == [threading.current_thread().name] * 3
    assert each(lambda x: threading.current_thread().name, ["one"], rows=1) == [
        threading.current_thread().name]  # one item: nothing to share

    def broken(x: int) -> int:
        if x == 3:
            raise ValueError(f"damaged {x}")
        return x

    for rows in (3, meanwhile_module.BOTH_CORES_ROWS + 1):
        with pytest.raises(ValueError, match="damaged 3"):
            each(broken, range(5), rows=rows)
