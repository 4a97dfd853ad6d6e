"""client state: the diff's view of a client's rows as one Arrow stream per entity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty after the upgrade: the next import of each client reads its rows from the entity
    # tables once and writes its state here.
    op.create_table(
        "etl_state",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("client", "entity"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # already zstd-compressed: stored out of line as it is, without pglz trying again
        # (that attempt tripled the write time of an 800k-row client's state)
        op.execute("ALTER TABLE etl_state ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("etl_state")
