"""dialect: the form of a source's last accepted export — encoding, delimiter, header per file
— so that a change of form is noticed before anything is applied

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_snapshot") as batch:
        batch.add_column(sa.Column("dialect", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_snapshot") as batch:
        batch.drop_column("dialect")
