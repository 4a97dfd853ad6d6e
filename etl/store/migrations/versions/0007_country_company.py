"""a building's country (ISO 3166-1 alpha-2; the buildings already stored are German, as every
mapping was before) and a person's company name (a company tenant has no last name)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("building") as batch:
        batch.add_column(sa.Column("country", sa.String(length=200), nullable=False,
                                   server_default="DE"))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("company_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("company_name")
    with op.batch_alter_table("building") as batch:
        batch.drop_column("country")
