"""Pandera schemas of the canonical entities: the rules every mapped export must keep."""

from schemas.entities import WIDE_CHECK_COLUMNS, schema_for

__all__ = ["WIDE_CHECK_COLUMNS", "schema_for"]
