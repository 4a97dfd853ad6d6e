"""Core: the canonical model of the portal side, and the plain data that read and map hand on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class Kind(StrEnum):
    """How a canonical field is typed after mapping."""

    TEXT = "text"
    DATE = "date"
    DECIMAL = "decimal"


KEY_LENGTH = 64  # characters of a key column (the client, *_id fields)
TEXT_LENGTH = 200  # characters of any other text column


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    personal: bool = False  # residents' personal data: never in logs, masked in reports

    @property
    def max_length(self) -> int | None:
        """The most characters the portal stores of this field (text fields)."""
        if self.name.endswith("_id"):
            return KEY_LENGTH
        return TEXT_LENGTH if self.kind is Kind.TEXT else None


@dataclass(frozen=True)
class Entity:
    name: str
    german: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "property",
            "Wirtschaftseinheit (WE)",
            ("property_id",),
            (Field("property_id", required=True), Field("name")),
        ),
        Entity(
            "building",
            "Gebäude / Haus",
            ("building_id",),
            (
                Field("building_id", required=True),
                Field("property_id", required=True),
                Field("street", required=True),
                Field("house_number", required=True),
                Field("postal_code", required=True),
                Field("city", required=True),
                Field("country", required=True),  # ISO 3166-1 alpha-2 (etl.core.countries)
            ),
        ),
        Entity(
            "unit",
            "Nutzungs-/Mieteinheit (NE/ME)",
            ("unit_id",),
            (
                Field("unit_id", required=True),
                Field("building_id", required=True),
                Field("property_id", required=True),
                Field("unit_number", required=True),
                Field("usage_type", required=True),  # living/commercial/parking/storage/other
                Field("position"),  # Lage, e.g. "2. OG links"
                Field("floor"),
                Field("rooms", Kind.DECIMAL),
                Field("living_area", Kind.DECIMAL),
            ),
        ),
        Entity(
            "tenancy",
            "Mietvertrag",
            ("tenancy_id",),
            (
                Field("tenancy_id", required=True),
                Field("unit_id", required=True),
                Field("start_date", Kind.DATE, required=True),
                Field("end_date", Kind.DATE),
            ),
        ),
        Entity(
            "person",
            "Vertragspartner / Mieter",
            ("person_id",),
            (
                Field("person_id", required=True),
                Field("salutation"),
                Field("title", personal=True),
                Field("first_name", personal=True),
                Field("last_name", personal=True),  # required unless company_name is set
                Field("company_name", personal=True),  # a company tenant's firm
                Field("email", personal=True),
                Field("email_secondary", personal=True),
                Field("phone", personal=True),
                Field("mobile", personal=True),
            ),
        ),
        Entity(
            "membership",
            "Vertragspartner am Vertrag",
            ("tenancy_id", "person_id"),
            (
                Field("tenancy_id", required=True),
                Field("person_id", required=True),
                Field("role", required=True),  # main_tenant | co_tenant | household_member
            ),
        ),
    )
}

USAGE_TYPES = ("living", "commercial", "parking", "storage", "other")
ROLES = ("main_tenant", "co_tenant", "household_member")

# Columns every entity frame carries besides its fields: where each row came from (the file is
# one per entity: Entities.files).
PROVENANCE = ("_line", "_group")
# Their type: 32 bits (half of numpy's default) — a line number and a column group's number fit,
# and every entity row carries them (800k rows: ~40 MB less).
LINE = "int32"


@dataclass(frozen=True)
class SourceTable:
    """One export file read as text: kept columns only, plus ``_line`` (1-based physical line)."""

    file: str
    role: str
    frame: pd.DataFrame
    headers: dict[str, str]  # source field name -> header text as found in the file
    encoding: str
    header_line: int
    header: tuple[str, ...] = ()  # every column of the header row, as found (dialect drift)
    title: tuple[str, ...] = ()  # the lines above the header (an export's date, its name)


@dataclass(frozen=True)
class Lineage:
    """Which source header(s) a canonical field came from, for pointing errors at columns."""

    columns: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def column(self, entity: str, name: str, group: int = 0) -> str:
        return self.columns.get((entity, name, group)) or self.columns.get(
            (entity, name, 0), name
        )


@dataclass(frozen=True)
class Entities:
    """Canonical entity frames (fields + provenance columns) and where each field came from."""

    frames: dict[str, pd.DataFrame]
    lineage: Lineage
    files: dict[str, str]  # entity -> the export file its rows came from

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames.items()}

    @property
    def rows(self) -> int:
        """Of every entity together."""
        return sum(len(frame) for frame in self.frames.values())
