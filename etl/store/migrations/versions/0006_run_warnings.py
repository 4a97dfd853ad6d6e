"""run warnings: the problems of an export that were imported as they are (a rule's severity
is ``warning``), per rule — beside ``findings``, the problems that blocked it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.add_column(sa.Column("warnings", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_run") as batch:
        batch.drop_column("warnings")
