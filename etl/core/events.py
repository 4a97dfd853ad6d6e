"""Core: every change event type there is — what `etl events --event` accepts and what a portal
consumer must handle (docs/events.md). Plain names, no imports: the CLI's help needs them fast."""

from __future__ import annotations

# The entities in the order of etl.core.model.ENTITIES (tests/test_cli.py checks it).
ENTITY_NAMES = ("property", "building", "unit", "tenancy", "person", "membership")

EVENT_TYPES: tuple[str, ...] = (
    "initial_import",
    *(f"{entity}_{what}" for entity in ENTITY_NAMES for what in ("added", "ended", "reactivated")),
    # a person's changes are name_changed / contact_changed, a tenancy's end tenancy_ending
    *(f"{entity}_changed" for entity in ENTITY_NAMES if entity != "person"),
    "tenancy_ending", "name_changed", "contact_changed",
    "moved", "moved_in", "moved_out", "possible_move", "person_erased",
)
