"""Stage map's typing of text: dates and decimal numbers as the mapping's dialect writes them."""

from __future__ import annotations

import pandas as pd

from etl.core.mapping_format import Mapping


def to_date(values: pd.Series, mapping: Mapping) -> pd.DataFrame:
    """Dates (``value``) and whether the text was no date in any accepted format (``bad``)."""
    text = values.fillna("").astype("str")
    empty = (text == "") | text.isin(mapping.dialect.open_end)
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    for fmt in mapping.dialect.date_formats:
        todo = ~empty & result.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        result[todo] = parsed.astype("datetime64[s]")
    return pd.DataFrame({"value": result, "bad": ~empty & result.isna()})


def to_decimal(values: pd.Series, mapping: Mapping) -> pd.DataFrame:
    """Numbers (``value``) and whether the text was not a number (``bad``)."""
    text = values.fillna("").astype("str").str.replace(" ", "", regex=False)
    if mapping.dialect.thousands.strip():
        text = text.str.replace(mapping.dialect.thousands, "", regex=False)
    if mapping.dialect.decimal != ".":
        text = text.str.replace(mapping.dialect.decimal, ".", regex=False)
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    return pd.DataFrame({"value": numbers, "bad": (text != "") & numbers.isna()})

