"""snapshot raw digest: the fingerprint of the last accepted export's data lines as they were
read (with the mapping, the rules and the code that read them), so that the same content
exported again is known as unchanged without reading a row

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_snapshot") as batch:
        batch.add_column(sa.Column("raw_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_snapshot") as batch:
        batch.drop_column("raw_digest")
