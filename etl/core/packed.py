"""Core: an Arrow table as the store keeps it — one zstd-compressed Arrow IPC stream."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


def stream(table: pa.Table) -> bytes:
    """A table as one zstd-compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@dataclass(frozen=True)
class Packed:
    """A table packed as the store keeps it, with its row count: a few times smaller than the
    table, for what must wait for the end of an import to be written."""

    rows: int
    data: bytes
    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, table: pa.Table) -> Packed:
        return cls(table.num_rows, stream(table), tuple(table.column_names))
