"""Properties of diff + load: importing an export twice changes nothing; importing a then b leaves
exactly b's rows active; every change is explained by events."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.core.canonical import canonical
from etl.core.config import GuardConfig, SourceConfig
from etl.core.model import ENTITIES
from etl.pipeline import check_export, import_export
from etl.stages import diff
from etl.store import Database
from etl.store import schema as db
from tests.conftest import MINI_HEADER, mini_mapping

SPEC = mini_mapping()
SOURCE = SourceConfig(client="c1", mapping="mini",
                      guard=GuardConfig(max_ended_share=1.0, max_shrink=1.0))
NAMES = st.sampled_from(["Anna", "Jörg", "Özlem", "Hans-Peter", "Marie Luise", "O'Neil"])
PEOPLE = st.dictionaries(
    st.sampled_from([f"P{i}" for i in range(8)]),
    st.tuples(NAMES, NAMES, st.sampled_from(["", "a@example.de", "b@example.org"])),
    min_size=1,
)


@st.composite
def exports(draw: st.DrawFn) -> list[str]:
    """An export of the mini dialect: units 01..06, some vacant, each let unit with one
    contract of one or two residents drawn from a consistent set of people."""
    people = draw(PEOPLE)
    ids = sorted(people)
    rows = []
    units = sorted(draw(st.sets(st.sampled_from(["01", "02", "03", "04", "05", "06"]),
                                min_size=1)))
    for k, unit in enumerate(units):
        area = draw(st.sampled_from(["50", "60,5", "72"]))
        base = f"0001;1;Hauptstraße;01067;Dresden;{unit};Wohnung;EG;{area}"
        if k and draw(st.booleans()):  # vacant; the first unit is let (an empty export is refused)
            rows.append(base + ";;;;;;;;")
            continue
        contract = f"V{unit}{draw(st.sampled_from(['a', 'b']))}"
        start = draw(st.sampled_from(["01.01.2020", "01.12.2026"]))
        end = draw(st.sampled_from(["", "31.12.2027"]))
        residents = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True))
        for slot, pid in enumerate(residents):
            first, last, email = people[pid]
            rows.append(f"{base};{contract};{start};{end};{pid};{'HM' if slot == 0 else 'MM'};"
                        f"{first};{last};{email}")
    return rows


def _active(engine, client: str | None = None) -> dict[str, set[tuple]]:
    out = {}
    with engine.connect() as conn:
        for name, table in db.ENTITY_TABLES.items():
            mine = table.c.client == client if client else sa.true()
            frame = canonical(pd.DataFrame(conn.execute(
                sa.select(*(table.c[f] for f in ENTITIES[name].field_names))
                .where(table.c.active.is_(True), mine)).all(),
                columns=ENTITIES[name].field_names), name)
            out[name] = set(map(tuple, frame.astype("object").where(frame.notna(), None)
                                .itertuples(index=False, name=None)))
    return out


def _expected(path) -> dict[str, set[tuple]]:
    entities = check_export([path], SPEC).entities
    out = {}
    for name, frame in entities.frames.items():
        c = canonical(frame, name)
        out[name] = set(map(tuple, c.astype("object").where(c.notna(), None)
                            .itertuples(index=False, name=None)))
    return out


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=exports(), b=exports())
def test_importing_a_then_b_leaves_exactly_b(tmp_path_factory, a, b) -> None:
    folder = tmp_path_factory.mktemp("diff")
    database = Database.connect(f"sqlite:///{folder / 'p.db'}")
    database.upgrade()
    engine = database.engine
    files = []
    for k, rows in enumerate((a, a, b)):
        path = folder / f"x_2026-11-0{k + 1}.csv"
        # the second file repeats a with other bytes (an extra blank line)
        path.write_text("\n".join([MINI_HEADER, *rows]) + "\n" * (k + 1), encoding="utf-8")
        files.append(path)
    results = [import_export([p], "s", SOURCE, SPEC, database) for p in files]
    statuses = [r.status for r in results]
    assert statuses[:2] == ["applied", "unchanged"]
    assert results[1].changes.rows_to_write == 0 and results[1].changes.events.empty
    assert _active(engine) == _expected(files[2])
    if a == b:
        assert statuses[2] == "unchanged"
    engine.dispose()


HASHES = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40)


@given(hashes=st.fixed_dictionaries({name: HASHES for name in ENTITIES}), data=st.data())
@settings(max_examples=200, deadline=None)
def test_the_content_digest_is_the_multiset_of_row_hashes(
        hashes: dict[str, list[int]], data: st.DataObject) -> None:
    """`diff.digest` does not depend on the rows' order, and any other row hash, one row
    more or less, or a row of another entity gives another digest."""
    def frames(of: dict[str, list[int]]) -> dict[str, pd.DataFrame]:
        return {name: pd.DataFrame({"row_hash": pd.Series(h, dtype="int64")})
                for name, h in of.items()}

    before = diff.digest(frames(hashes))
    name = data.draw(st.sampled_from(sorted(ENTITIES)))
    shuffled = dict(hashes, **{name: data.draw(st.permutations(hashes[name]))})
    assert diff.digest(frames(shuffled)) == before
    other = data.draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40))
    if sorted(other) != sorted(hashes[name]):
        assert diff.digest(frames(dict(hashes, **{name: other}))) != before
    moved = data.draw(st.sampled_from(sorted(set(ENTITIES) - {name})))
    if hashes[name]:  # a row of one entity given to another
        to = dict(hashes, **{name: hashes[name][1:], moved: [*hashes[moved], hashes[name][0]]})
        assert diff.digest(frames(to)) != before
