"""Safe pickup as pure logic: which inbox files form complete exports (no database, no I/O)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from etl.core.config import DropConfig
from etl.drops.base import Entry
from etl.drops.pickup import ignored, parse_manifest, scan


def entries(*specs: tuple[str, int, float]) -> list[Entry]:
    return [Entry(n, s, m) for n, s, m in specs]


def names(result) -> list[str]:
    return [p.key for p in result.ready]


SETTLE = DropConfig(settle_seconds=30)
MARKER = DropConfig(marker=".done")


def no_read(name: str) -> bytes:
    raise AssertionError(f"{name} must not be read")


@pytest.mark.parametrize("name", [".hidden.csv", "a.csv.part", "a.csv.tmp", "A.CSV.PART",
                                  "a.csv.filepart", "a.fehler.csv", "a.csv~"])
def test_temporary_hidden_and_report_files_are_never_exports(name: str) -> None:
    assert ignored(name)
    listing = entries((name, 10, 1.0))
    assert scan(listing, listing, SETTLE, "*", False, no_read).ready == []


def test_a_file_that_grew_or_was_touched_during_the_settle_time_waits() -> None:
    first = entries(("grow.csv", 100, 1.0), ("touch.csv", 50, 1.0), ("done.csv", 70, 1.0))
    second = entries(("grow.csv", 180, 2.0), ("touch.csv", 50, 3.0), ("done.csv", 70, 1.0),
                     ("new.csv", 5, 4.0))
    result = scan(first, second, SETTLE, "*.csv", False, no_read)
    assert names(result) == ["done.csv"]
    assert result.waiting == ["grow.csv", "new.csv", "touch.csv"]


def test_marker_mode_takes_a_file_only_with_its_marker_and_moves_the_marker_along() -> None:
    listing = entries(("a_2026-11-01.csv", 9, 1.0), ("a_2026-11-01.csv.done", 0, 2.0),
                      ("b_2026-11-02.csv", 9, 1.0), ("b_2026-11-02.done", 0, 2.0),
                      ("c_2026-11-03.csv", 9, 1.0), ("orphan.csv.done", 0, 1.0))
    result = scan(listing, listing, MARKER, "*.csv", False, no_read)
    assert names(result) == ["a_2026-11-01.csv", "b_2026-11-02.csv"]
    assert [p.companions for p in result.ready] == [("a_2026-11-01.csv.done",),
                                                    ("b_2026-11-02.done",)]
    assert result.waiting == ["c_2026-11-03.csv"]


DEC_2 = datetime(2026, 12, 2, tzinfo=UTC).timestamp()  # when the files below were written


def test_exports_are_ordered_oldest_first_by_the_date_in_the_name_else_mtime() -> None:
    listing = entries(("liste_2026-12-01.csv", 1, DEC_2 + 50), ("liste_2026-11-01.csv", 1,
                                                                  DEC_2 + 99),
                      ("liste_20261015.csv", 1, DEC_2 + 10), ("ohne_datum.csv", 1, 0.0))
    result = scan(listing, listing, DropConfig(settle_seconds=0), "*.csv", False, no_read)
    assert names(result) == ["ohne_datum.csv", "liste_20261015.csv", "liste_2026-11-01.csv",
                             "liste_2026-12-01.csv"]


def test_a_date_in_the_name_far_after_the_file_was_written_is_not_believed() -> None:
    """A typo (2099) must not make every later export look stale: the mtime counts then."""
    listing = entries(("liste_2099-11-01.csv", 1, DEC_2), ("liste_2027-02-01.csv", 1, DEC_2))
    result = scan(listing, listing, DropConfig(settle_seconds=0), "*.csv", False, no_read)
    assert [(p.key, p.export_time) for p in result.ready] == [
        ("liste_2099-11-01.csv", datetime(2026, 12, 2, tzinfo=UTC)),
        ("liste_2027-02-01.csv", datetime(2027, 2, 1, tzinfo=UTC))]


def test_pattern_is_matched_case_insensitively_and_others_are_left_alone() -> None:
    listing = entries(("MIETERLISTE_1.CSV", 1, 1.0), ("readme.txt", 1, 1.0))
    result = scan(listing, listing, DropConfig(settle_seconds=0), "mieterliste_*.csv", False,
                  no_read)
    assert names(result) == ["MIETERLISTE_1.CSV"]
    assert result.waiting == []


SAP = DropConfig(manifest="RE_*.manifest", settle_seconds=30)
MEMBERS = {f"RE_{r}_20261101.csv": 100 + i for i, r in enumerate(["WE", "GEB", "MO"])}


def manifest(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_a_set_is_taken_only_when_its_manifest_is_there_and_settled() -> None:
    members = [(n, s, 1.0) for n, s in MEMBERS.items()]
    without = entries(*members)
    result = scan(without, without, SAP, "*", True, no_read)
    assert result.ready == []
    assert result.waiting == sorted(MEMBERS)
    body = manifest([f"{n};{s}" for n, s in MEMBERS.items()])
    first = entries(*members, ("RE_20261101.manifest", len(body) - 5, 2.0))
    second = entries(*members, ("RE_20261101.manifest", len(body), 3.0))
    assert scan(first, second, SAP, "*", True, lambda _: body).ready == []  # still written
    result = scan(second, second, SAP, "*", True, lambda _: body)
    [pending] = result.ready
    assert pending.key == "RE_20261101.manifest"
    assert [m.name for m in pending.members] == list(MEMBERS)
    assert pending.companions == ("RE_20261101.manifest",)
    assert pending.problems.empty
    assert result.waiting == []


def test_a_set_with_a_missing_or_truncated_member_is_refused_as_a_whole() -> None:
    listing = entries(("RE_WE_20261101.csv", 100, 1.0), ("RE_GEB_20261101.csv", 50, 1.0),
                      ("RE_20261101.manifest", 80, 2.0))
    body = manifest(["RE_WE_20261101.csv;100", "RE_GEB_20261101.csv;101",
                     "RE_MO_20261101.csv;102"])
    [pending] = scan(listing, listing, SAP, "*", True, lambda _: body).ready
    problems = {(r, f) for r, f in zip(pending.problems["rule"], pending.problems["file"],
                                       strict=True)}
    assert problems == {("file.truncated", "RE_GEB_20261101.csv"),
                        ("manifest.member_missing", "RE_20261101.manifest")}
    assert "102" not in " ".join(pending.problems["message_de"])
    assert "RE_MO_20261101.csv" in " ".join(pending.problems["message_de"])


def test_manifest_formats_and_bad_lines() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    members, problems = parse_manifest("m", manifest([
        "# Kommentar", "", "a.csv", "b.csv;12", f"c.csv;13;{sha}", f"{sha}  d.csv",
        f"{sha} *e.csv", "../etc/passwd", "f.csv;zwölf"]))
    assert [(m.name, m.expect_size, m.expect_sha256) for m in members] == [
        ("a.csv", None, None), ("b.csv", 12, None), ("c.csv", 13, sha), ("d.csv", None, sha),
        ("e.csv", None, sha)]
    assert list(zip(problems["rule"], problems["line"], strict=True)) == [
        ("manifest.invalid", 8), ("manifest.invalid", 9)]
    _, empty = parse_manifest("m", b"# nothing\n")
    assert list(empty["rule"]) == ["manifest.empty"]
