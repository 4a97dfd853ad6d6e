"""Validation rules per canonical entity, declared once; `etl.stages.validate` runs them.

Each check's name is a rule of `etl.core.rules.RULES`, so every failure turns into a finding with a
German and an English message. Referential integrity is a check against the keys of the entity
referred to, which the caller passes in.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from etl.core import countries, textops
from etl.core.model import ENTITIES, ROLES, USAGE_TYPES, Kind

_ADDRESS_CHAR = r"[^@ \t\r\n,;]"  # in an address (RE2's \s would differ from Python's)
_NOT_DOT = r"[^@ \t\r\n,;.]"  # ... that is no dot
_ADDRESS = (rf"{_NOT_DOT}(?:{_ADDRESS_CHAR}*{_NOT_DOT})?@{_NOT_DOT}+(?:\.{_NOT_DOT}+)*"
            r"\.[A-Za-z]{2,}")
EMAIL = rf"^{_ADDRESS}$"
EMAILS = rf"^{_ADDRESS}(?:, {_ADDRESS})*$"
PHONE = r"^\+?\(?[0-9][0-9 ()/.\-]{4,30}$"
EARLIEST, LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31")

# A check over several columns is reported at this column.
WIDE_CHECK_COLUMNS = {"date.order": "end_date", "key.unique": None,
                      "postal_code.format": "postal_code", "name.missing": "last_name"}


def _rule(name: str, ok: Callable[[pd.Series], pd.Series]) -> pa.Check:
    """A vectorised check named after its rule; empty values pass (``required`` covers them)."""
    return pa.Check(lambda s: s.isna() | ok(s), name=name, ignore_na=False)


def _matches(name: str, pattern: str) -> pa.Check:
    return _rule(name, lambda s: textops.fullmatch(s, pattern))


def _within(name: str, low: float, high: float, step: float | None = None) -> pa.Check:
    def ok(s: pd.Series) -> pd.Series:
        inside = s.between(low, high)
        return inside & ((s / step) % 1 == 0) if step else inside

    return _rule(name, ok)


def _refers(name: str, keys: object) -> pa.Check:
    """``keys``: the keys referred to, as a set, a Series or Arrow strings."""
    allowed = textops.value_set(keys)
    return _rule(name, lambda s: textops.is_in(s, allowed))


def _one_of(values: tuple[str, ...]) -> pa.Check:
    allowed = textops.value_set(values)
    return _rule("value.unknown", lambda s: textops.is_in(s, allowed))


def _checks(
    entity: str, refs: dict[str, object]
) -> tuple[dict[str, list[pa.Check]], list[pa.Check]]:
    """Column checks and DataFrame-wide checks of one entity."""
    dates = [_within("date.range", EARLIEST, LATEST)]  # type: ignore[arg-type]
    column: dict[str, list[pa.Check]] = {
        "property": {},
        "building": {
            "property_id": [_refers("ref.property", refs["property"])],
            "country": [_refers("country.unknown", set(countries.codes().values()))],
        },
        "unit": {
            "building_id": [_refers("ref.building", refs["building"])],
            "property_id": [_refers("ref.property", refs["property"])],
            "usage_type": [_one_of(USAGE_TYPES)],
            "rooms": [_within("rooms.range", 0, 20, 0.5)],
            "living_area": [_within("living_area.range", 0, 2000)],
        },
        "tenancy": {
            "unit_id": [_refers("ref.unit", refs["unit"])],
            "start_date": dates,
            "end_date": dates,
        },
        "person": {
            "email": [_matches("email.format", EMAIL)],
            "email_secondary": [_matches("email.format", EMAILS)],
            "phone": [_matches("phone.format", PHONE)],
            "mobile": [_matches("phone.format", PHONE)],
        },
        "membership": {
            "tenancy_id": [_refers("ref.tenancy", refs["tenancy"])],
            "person_id": [_refers("ref.person", refs["person"])],
            "role": [_one_of(ROLES)],
        },
    }[entity]
    wide: list[pa.Check] = []
    if entity == "building":
        wide.append(pa.Check(_postal_codes_fit, name="postal_code.format"))
    if entity == "person":
        wide.append(pa.Check(lambda df: df["last_name"].notna() | df["company_name"].notna(),
                             name="name.missing"))
    if entity == "tenancy":
        wide.append(pa.Check(
            lambda df: df["end_date"].isna() | df["start_date"].isna()
            | (df["end_date"] >= df["start_date"]),
            name="date.order",
        ))
    return column, wide


def _postal_codes_fit(df: pd.DataFrame) -> pd.Series:
    """Per building: its postal code has the format of its country (any, where none is known);
    one pass per country that occurs."""
    ok = pd.Series(True, index=df.index)
    codes, country = df["postal_code"], df["country"]
    for code in country.dropna().unique():
        pattern = countries.POSTAL_CODES.get(code)
        if pattern:
            here = (country == code).fillna(False).astype(bool) & codes.notna()
            ok[here] = textops.fullmatch(codes[here], pattern).fillna(False).astype(bool)
    return ok


_DTYPES = {Kind.TEXT: "str", Kind.DATE: "datetime64[s]", Kind.DECIMAL: "float64"}


def schema_for(entity: str, refs: dict[str, object]) -> pa.DataFrameSchema:
    """The schema of ``entity``; ``refs`` maps entity names to the keys present in the export."""
    spec = ENTITIES[entity]
    column_checks, wide = _checks(entity, refs)
    single_key = len(spec.key) == 1
    columns = {
        f.name: pa.Column(
            _DTYPES[f.kind],
            checks=column_checks.get(f.name, []),
            nullable=not f.required,
            unique=single_key and f.name in spec.key,
            report_duplicates="exclude_first",
        )
        for f in spec.fields
    }
    return pa.DataFrameSchema(
        columns,
        checks=wide,
        unique=None if single_key else list(spec.key),
        report_duplicates="exclude_first",
        name=entity,
    )
