"""run held: the errors of an imported export whose rows were held back (``invalid_rows:
hold``), per rule

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.add_column(sa.Column("held", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.drop_column("held")
