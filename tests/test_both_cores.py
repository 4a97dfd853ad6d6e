"""The map, validation and the row hashes work on two entities at a time
(`etl.core.meanwhile.each`): their entities, lines, findings and prepared frames are exactly
those of one entity after the other — for every sample export, good and damaged, and generated
ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from etl.core import meanwhile
from etl.pipeline import check_export
from etl.stages import diff
from tests.conftest import mapping
from tests.test_map_parts import _exports, _lines


def test_two_entities_at_a_time_give_what_one_after_the_other_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0
    for dialect, files in _exports(tmp_path):
        spec = mapping(dialect)
        both = check_export(files, spec, keep_lines=True)
        monkeypatch.setattr(meanwhile, "BOTH_CORES_ROWS", -1)  # one entity at a time
        alone = check_export(files, spec, keep_lines=True)
        alone_prepared = diff.prepare(alone.entities) if alone.entities else None
        monkeypatch.undo()
        where = f"{dialect} {[f.name for f in files]}"
        pd.testing.assert_frame_equal(both.findings, alone.findings, obj=where)
        if both.entities is None:
            continue
        assert alone.entities is not None and alone_prepared is not None
        assert both.entities.lineage == alone.entities.lineage, where
        assert _lines(both) == _lines(alone), where
        prepared = diff.prepare(both.entities)
        assert list(prepared) == list(alone_prepared)
        for name, frame in prepared.items():
            pd.testing.assert_frame_equal(both.entities.frames[name],
                                          alone.entities.frames[name], obj=f"{where}: {name}")
            pd.testing.assert_frame_equal(frame, alone_prepared[name], obj=f"{where}: {name}")
        checked += 1
    assert checked > 30
