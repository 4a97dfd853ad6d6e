"""initial portal schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("building_id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=64), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("house_number", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("client", "building_id"),
    )
    op.create_table(
        "change_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_key", sa.String(length=140), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("fields", sa.Text(), nullable=True),
        sa.Column("from_unit", sa.String(length=64), nullable=True),
        sa.Column("to_unit", sa.String(length=64), nullable=True),
        sa.Column("from_tenancy", sa.String(length=64), nullable=True),
        sa.Column("to_tenancy", sa.String(length=64), nullable=True),
        sa.Column("related_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("change_event", schema=None) as batch_op:
        batch_op.create_index("ix_change_event_client_id", ["client", "id"], unique=False)
        batch_op.create_index("ix_change_event_run", ["run_id"], unique=False)

    op.create_table(
        "etl_applied",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "sha256"),
    )
    op.create_table(
        "etl_file",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("export_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name"),
    )
    with op.batch_alter_table("etl_file", schema=None) as batch_op:
        batch_op.create_index("ix_etl_file_source_sha", ["source", "sha256"], unique=False)

    op.create_table(
        "etl_run",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("export_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("guard", sa.String(length=20), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("etl_run", schema=None) as batch_op:
        batch_op.create_index("ix_etl_run_source_started", ["source", "started_at"], unique=False)

    op.create_table(
        "etl_snapshot",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("export_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "membership",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("tenancy_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("client", "tenancy_id", "person_id"),
    )
    op.create_table(
        "person",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("salutation", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("email_secondary", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=200), nullable=True),
        sa.Column("mobile", sa.String(length=200), nullable=True),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.Column("app_account_id", sa.String(length=64), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invitation_code", sa.String(length=32), nullable=True),
        sa.Column("consent_email", sa.Boolean(), nullable=True),
        sa.Column("notifications_enabled", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("client", "person_id"),
    )
    op.create_table(
        "property",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.Column("quarter", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("client", "property_id"),
    )
    op.create_table(
        "tenancy",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("tenancy_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("client", "tenancy_id"),
    )
    op.create_table(
        "unit",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("building_id", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.String(length=64), nullable=False),
        sa.Column("unit_number", sa.String(length=200), nullable=False),
        sa.Column("usage_type", sa.String(length=200), nullable=False),
        sa.Column("position", sa.String(length=200), nullable=True),
        sa.Column("floor", sa.String(length=200), nullable=True),
        sa.Column("rooms", sa.Float(), nullable=True),
        sa.Column("living_area", sa.Float(), nullable=True),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_run", sa.String(length=40), nullable=False),
        sa.Column("updated_run", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("client", "unit_id"),
    )


def downgrade() -> None:
    op.drop_table("unit")
    op.drop_table("tenancy")
    op.drop_table("property")
    op.drop_table("person")
    op.drop_table("membership")
    op.drop_table("etl_snapshot")
    with op.batch_alter_table("etl_run", schema=None) as batch_op:
        batch_op.drop_index("ix_etl_run_source_started")

    op.drop_table("etl_run")
    with op.batch_alter_table("etl_file", schema=None) as batch_op:
        batch_op.drop_index("ix_etl_file_source_sha")

    op.drop_table("etl_file")
    op.drop_table("etl_applied")
    with op.batch_alter_table("change_event", schema=None) as batch_op:
        batch_op.drop_index("ix_change_event_run")
        batch_op.drop_index("ix_change_event_client_id")

    op.drop_table("change_event")
    op.drop_table("building")
