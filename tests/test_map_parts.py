"""A large file is mapped in parts (`etl.stages.map.CHUNK_ROWS`), each part's source text let go
once mapped: the entities, the lines they came from, the keys each line gave and the findings
are exactly those of mapping the file whole — for every dialect, good exports and damaged ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from bench.generate import generate, write, write_sap
from etl.pipeline import check_export
from etl.pipeline.check import CheckResult
from etl.stages import map as map_stage
from tests.conftest import SAMPLES, mapping


def _exports(tmp_path: Path) -> list[tuple[str, list[Path]]]:
    """Every sample export (good and bad, one file or a file set) and generated ones with
    every tenant column group filled somewhere, one of them with damaged cells."""
    out: list[tuple[str, list[Path]]] = []
    for folder in ("wodis-style", "sap-style", "generic", "alpen-style", "altsystem-style"):
        good = sorted((SAMPLES / folder).glob("*.csv"))
        out += [(folder, good)] if folder == "sap-style" else [(folder, [p]) for p in good]
        bad = SAMPLES / "bad" / folder
        if bad.is_dir():
            out += [(folder, sorted(p.glob("*.csv")) if p.is_dir() else [p])
                    for p in sorted(bad.iterdir()) if p.suffix != ".py"]
    frame = generate(600, seed=7)
    write(frame, tmp_path / "flat.csv")
    damaged = frame.copy()
    damaged.loc[damaged.index[::37], "Zimmer"] = "drei"
    damaged.loc[damaged.index[5::41], "Vertragsbeginn"] = "31.02.2026"
    write(damaged, tmp_path / "damaged.csv")
    out += [("wodis-style", [tmp_path / "flat.csv"]), ("wodis-style", [tmp_path / "damaged.csv"]),
            ("sap-style", write_sap(frame, tmp_path / "sap", "20261101"))]
    return out


def test_mapping_in_parts_gives_what_mapping_whole_gives(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0
    for dialect, files in _exports(tmp_path):
        spec = mapping(dialect)
        whole = check_export(files, spec, keep_lines=True)
        lines = sum(len(f.read_bytes().splitlines()) for f in files)
        for rows in ((6,) if lines < 100 else (97, 250)):
            monkeypatch.setattr(map_stage, "CHUNK_ROWS", rows)
            parts = check_export(files, spec, keep_lines=True)
            monkeypatch.undo()
            where = f"{dialect} {[f.name for f in files]} in parts of {rows}"
            pd.testing.assert_frame_equal(parts.findings, whole.findings, obj=where)
            assert (parts.entities is None) == (whole.entities is None), where
            if whole.entities is None:
                continue
            for name, frame in whole.entities.frames.items():
                pd.testing.assert_frame_equal(parts.entities.frames[name], frame,
                                              obj=f"{where}: {name}")
            assert _lines(parts) == _lines(whole), where
            assert parts.entities.lineage == whole.entities.lineage, where
            checked += 1
    assert checked > 30  # the exports above that could be mapped


def _lines(checked: CheckResult) -> dict[str, pa.Table | None]:
    """Per file: its lines as the store keeps them (hash and keys given), unpacked."""
    return {role: pa.ipc.open_stream(packed.result().data).read_all() if packed else None
            for role, packed in checked.lines.items()}
