"""Core: an Arrow table as the store keeps it — one zstd-compressed Arrow IPC stream."""

from __future__ import annotations

import queue
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from etl.core.meanwhile import meanwhile


def stream(table: pa.Table) -> bytes:
    """A table as one zstd-compressed Arrow IPC stream."""
    return _stream([table])[0]


def _stream(parts: Iterable[pa.Table]) -> tuple[bytes, int, tuple[str, ...]]:
    """Tables of one schema, one after the other, as one zstd-compressed Arrow IPC stream, each
    let go once written; with their rows and columns."""
    parts = iter(parts)
    first = next(parts)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    rows, columns = 0, tuple(first.column_names)
    with pa.ipc.new_stream(sink, first.schema, options=options) as writer:
        writer.write_table(first)
        rows += first.num_rows
        del first
        for table in parts:
            writer.write_table(table)
            rows += table.num_rows
    return sink.getvalue().to_pybytes(), rows, columns


@dataclass(frozen=True)
class Packed:
    """A table packed as the store keeps it, with its row count: a few times smaller than the
    table, for what must wait for the end of an import to be written."""

    rows: int
    data: bytes
    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, table: pa.Table) -> Packed:
        return cls.of_parts([table])

    @classmethod
    def of_parts(cls, parts: Iterable[pa.Table]) -> Packed:
        """Tables of one schema packed as one, each let go once it is packed (when nothing
        else holds it)."""
        data, rows, columns = _stream(parts)
        return cls(rows, data, columns)


class Packing:
    """Tables of one schema packed as one (`Packed.of_parts`) on a thread of its own as they
    come: the caller hands each over (`add`) and goes on with its work while the other core
    compresses it; `close` says there are no more and gives the packed table to come. Close
    it whatever happens: the thread waits for the tables until then."""

    def __init__(self) -> None:
        self._tables: queue.SimpleQueue[pa.Table | None] = queue.SimpleQueue()
        self._packed = meanwhile(Packed.of_parts, iter(self._tables.get, None))

    def add(self, table: pa.Table) -> None:
        self._tables.put(table)

    def close(self) -> Future[Packed]:
        self._tables.put(None)
        return self._packed
