"""run records: every run is recorded — its findings per rule, its timings, its report

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.add_column(sa.Column("findings", sa.Text(), nullable=True))
        batch.add_column(sa.Column("timings", sa.Text(), nullable=True))
        batch.add_column(sa.Column("report", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.drop_column("report")
        batch.drop_column("timings")
        batch.drop_column("findings")
