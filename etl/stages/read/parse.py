"""Stage read, parsing: pyarrow's multi-threaded CSV reader materialises only the kept
columns; files with ragged rows take a slower exact path through the standard library's csv
module, which reports each bad row by line."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from etl.core import findings, textops
from etl.core.mapping_format import Dialect
from etl.stages.read.lines import read_error


def parse_fast(
    body: memoryview,
    header: list[str],
    positions: dict[str, int],
    dialect: Dialect,
    expected_rows: int,
) -> pa.Table | None:
    """pyarrow's reader: the kept columns (named by ``positions``) as read — a 32-bit offset
    per value, half of what a column of the frame takes (`as_frame`), so that the text read is
    smaller while the text it is read from is held (800k rows: ~70 MB); None when a row does
    not fit the header (the exact path takes over)."""
    names = [f"c{i}" for i in range(len(header))]
    kept = [f"c{i}" for i in positions.values()]
    ragged: list[object] = []

    def on_invalid(row: object) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote,
                double_quote=True,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=kept,
                column_types=dict.fromkeys(kept, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if ragged or table.num_rows != expected_rows:
        return None
    return table.rename_columns(list(positions))


def as_frame(table: pa.Table) -> pd.DataFrame:
    """The columns `parse_fast` read as text columns of a frame, each let go once converted."""
    return table.to_pandas(self_destruct=True)


def parse_exact(
    body: bytes | bytearray,
    header: list[str],
    positions: dict[str, int],
    dialect: Dialect,
    file: str,
    first_line: int,
    unbalanced: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard library's csv reader, row by row: slower, but names every ragged row's line.

    ``unbalanced``: the quotes do not pair up. A quote inside an unquoted value (``24"``) is a
    character like any other; a quoted value that is never closed swallows the rest of the file
    into its last record: that is ``row.unclosed_quote``, at the line where the quote opened.

    Trailing delimiters that an export puts on every data row (but not on the header) are
    accepted; any other row whose field count differs from the header's is a finding — even one
    whose extra field is empty, since that is what an unquoted delimiter in a value looks like.
    """
    reader = csv.reader(
        io.StringIO(body.decode("utf-8"), newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        doublequote=True,
        strict=False,
    )
    records: list[list[str]] = []
    lines: list[int] = []
    next_line = first_line
    try:
        for record in reader:
            if record:
                records.append(record)
                lines.append(next_line)
            next_line = first_line + reader.line_num
    except csv.Error as exc:
        raise read_error("row.unreadable", file, next_line, detail=str(exc)) from exc
    width = len(header)
    if unbalanced and records and (
            (len(records[-1]) < width and "\n" in records[-1][-1])
            or records[-1][-1].endswith(("\n", "\r"))):  # the last line break is in a value
        raise read_error("row.unclosed_quote", file, lines[-1])
    counts = pd.Series([len(r) for r in records], dtype="int64")
    if len(counts) and counts.min() == counts.max() > width and not any(
        f.strip() for r in records for f in r[width:]
    ):
        counts[:] = width  # trailing delimiters on every row: an export habit, not damage
    good = (counts == width).to_numpy()
    kept_pos = list(positions.values())
    frame = pd.DataFrame(
        [[r[i] for i in kept_pos] for r, ok in zip(records, good, strict=True) if ok],
        columns=list(positions),
        dtype="str",
    )
    line_numbers = np.asarray(lines, dtype=np.int64)
    frame["_line"] = line_numbers[good]
    if good.all():
        return frame, findings.empty()
    bad = pd.Series(line_numbers[~good])
    count = pd.Series(counts.to_numpy()[~good])
    more = count > width
    return frame, findings.concat([
        findings.make("row.field_count", file=file, line=bad[more], column=None,
                      value=count[more].astype("str"), expected=width, mehr_weniger="mehr",
                      more_fewer="more",
                      hinweis="Trennzeichen im Text ohne Anführungszeichen?",
                      hint="an unquoted delimiter in a value?"),
        findings.make("row.field_count", file=file, line=bad[~more], column=None,
                      value=count[~more].astype("str"), expected=width,
                      mehr_weniger="weniger", more_fewer="fewer",
                      hinweis="Zeile abgeschnitten, oder ein Zeilenumbruch im Text ohne "
                      "Anführungszeichen?",
                      hint="a cut-off line, or an unquoted line break in a value?")])


def clean(frame: pd.DataFrame, kept: list[str], nbsp: bool) -> pd.DataFrame:
    """Trim blanks (non-breaking spaces included); whitespace-only cells become empty; a
    non-breaking space inside a value becomes a plain one."""
    for name in kept:
        col = textops.trim(frame[name])
        frame[name] = textops.replace_literal(col, "\u00a0", " ") if nbsp else col
    return frame
