"""Stages: pure functions from tables to tables, in the order of the data flow — read, map,
validate, diff, moves, guard. They take and return plain data (no database, no drop, no I/O
beyond the export's bytes they are handed) and never import each other: `etl.pipeline` composes
them."""
