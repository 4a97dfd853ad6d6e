"""Pipeline: the lines of an export as the store keeps them once it is applied (``etl_lines``,
`etl.pipeline.delta`): per data line its 64-bit hash and, per entity and column group, the key
it gave (null: none).

They are taken from the map as it goes (`etl.stages.map.map_entities`' ``produced``): each
part of a file gives the keys of its lines, which are packed on the other core while the map
goes on — the keys of every row mapped are never held together (a first import of 800k rows:
~150 MB less while it is loaded)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.core import textops
from etl.core.mapping_format import Mapping
from etl.core.model import ENTITIES
from etl.core.packed import Packed, Packing
from etl.stages.read.delta import Lines


class Hashed(NamedTuple):
    """What the keys of a file's lines are packed with: the line each data record begins on and
    its hash (`Lines` without the byte ranges)."""

    numbers: np.ndarray
    hashes: np.ndarray

    @classmethod
    def of(cls, lines: Lines | None) -> Hashed | None:
        return cls(lines.numbers, lines.hashes) if lines is not None else None


class LineKeys:
    """Collects, file by file, the keys each data line gave (`part`), packing them as they come;
    `close` (whatever happens) gives each file's packed lines to come — None for a file whose
    lines cannot be read one by one."""

    def __init__(self, lines: dict[str, Hashed | None], mapping: Mapping,
                 first: dict[str, pa.Table] | None = None):
        """``lines``: per file role, its data lines (those read, for the changed lines), taken
        out as each file's last part is packed; ``first``: per role, lines already packed the
        same way (a next export's unchanged lines), stored before these."""
        self._lines = lines
        self._done = dict.fromkeys(lines, 0)
        self._groups = {role: {name: spec.repeat or (0,) for name, spec in
                               mapping.entities.items() if spec.from_ == role}
                        for role in lines}
        self._packing = {role: Packing() for role, seen in lines.items() if seen is not None}
        self._packed: dict[str, Future[Packed] | None] = dict.fromkeys(lines)
        for role, table in (first or {}).items():
            self._packing[role].add(table)

    def part(self, role: str, last_line: int | None, rows: dict[str, pd.DataFrame]) -> None:
        """The rows (key and provenance) each entity of file ``role`` got from its lines up to
        line ``last_line`` (None: to its end), after those of the parts before."""
        lines = self._lines.get(role)
        if lines is None:
            return
        start = self._done[role]
        end = (len(lines.numbers) if last_line is None
               else int(np.searchsorted(lines.numbers, last_line, side="right")))
        self._done[role] = end
        numbers = lines.numbers[start:end]
        columns = {"hash": pa.array(lines.hashes[start:end], pa.int64())}
        for name, groups in self._groups[role].items():
            produced = rows[name]
            keys = textops.composite([produced[k] for k in ENTITIES[name].key])
            at = np.searchsorted(numbers, produced["_line"].to_numpy(np.int64))
            group = produced["_group"].to_numpy()
            for n in groups:
                given = np.flatnonzero(group == n)
                where = np.full(len(numbers), -1, np.int64)
                where[at[given]] = given
                columns[f"{name}.{n}"] = pc.take(keys, pa.array(where, mask=where < 0))
        self._packing[role].add(pa.table(columns))
        if last_line is None:  # the file's last part: its lines are let go
            del self._lines[role]
            self._packed[role] = self._packing.pop(role).close()

    def close(self) -> dict[str, Future[Packed] | None]:
        """Per file role, its packed lines to come (None: its lines cannot be read one by
        one)."""
        for role in list(self._packing):
            self._packed[role] = self._packing.pop(role).close()
        self._lines.clear()
        return self._packed
