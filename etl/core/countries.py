"""Core: countries (ISO 3166-1, from pycountry) and the format of their postal codes.

An ERP writes a building's country as ``DE``, ``DEU`` or ``276`` (numeric, sometimes without its
leading zeros, as Swiss and Austrian ERPs do); the portal stores the alpha-2 code. A country
without a rule here takes any postal code (the portal's column size still applies).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_FOUR_DIGITS = r"^[0-9]{4}$"
_FIVE_DIGITS = r"^[0-9]{5}$"

# alpha-2 -> the whole postal code matches this (ASCII only: RE2 and Python agree)
POSTAL_CODES: dict[str, str] = {
    "DE": _FIVE_DIGITS,
    **dict.fromkeys(("AT", "BE", "CH", "DK", "HU", "LI", "LU", "NO", "SI"), _FOUR_DIGITS),
    **dict.fromkeys(("ES", "FI", "FR", "HR", "IT", "MC"), _FIVE_DIGITS),
    "NL": r"^[1-9][0-9]{3} ?[A-Z]{2}$",
    "PL": r"^[0-9]{2}-[0-9]{3}$",
    **dict.fromkeys(("CZ", "SE", "SK"), r"^[0-9]{3} ?[0-9]{2}$"),
    "PT": r"^[0-9]{4}-[0-9]{3}$",
}


@cache
def codes() -> dict[str, str]:
    """Every accepted spelling of a country (alpha-2, alpha-3, numeric without leading zeros;
    upper case) -> its alpha-2 code."""
    import pycountry  # noqa: PLC0415 — only an import that maps a building needs it

    out: dict[str, str] = {}
    for c in pycountry.countries:
        out[c.alpha_2] = out[c.alpha_3] = out[str(int(c.numeric))] = c.alpha_2
    return out


def alpha2(code: str) -> str | None:
    """The alpha-2 code of one spelling of a country, or None when it is none."""
    return codes().get(_spelling(code))


def _spelling(code: str) -> str:
    code = code.strip().upper()
    return (code.lstrip("0") or "0") if code.isdigit() else code


def normalise(values: pd.Series, default: str) -> pd.Series:
    """Alpha-2 codes for a column of countries however written; an empty value is ``default``
    (the mapping's country); an unknown one stays as it is (``country.unknown`` names it)."""
    text = values.fillna("").astype("str")
    spelled = text.str.strip().str.upper()
    digits = spelled.str.fullmatch(r"[0-9]+")
    spelled = spelled.where(~digits, spelled.str.lstrip("0").replace("", "0"))
    known = spelled.map(codes())
    out = known.where(known.notna(), text).where(text.str.strip() != "", default)
    return out.astype("str")
