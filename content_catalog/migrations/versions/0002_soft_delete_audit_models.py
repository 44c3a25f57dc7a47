"""Soft delete for items, session-history index, audit log, model and vector-index versions.

An older store (0001) upgrades in place: existing items get `deleted_at = NULL` (all stay visible).

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("deleted_at", TS, nullable=True))
        batch.create_index("ix_items_deleted_at", ["deleted_at"])
    op.create_index("ix_events_session_id_timestamp", "events", ["session_id", "timestamp"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("version", name="uq_model_versions_version"),
    )
    # At most one active model version, enforced by the database itself.
    op.create_index(
        "uq_model_versions_one_active",
        "model_versions",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )

    op.create_table(
        "vector_index_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("encoder", sa.String(300), nullable=False),
        sa.Column("catalog_version", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vector_index_versions"),
    )
    op.create_index("ix_vector_index_versions_encoder", "vector_index_versions", ["encoder"])


def downgrade() -> None:
    op.drop_table("vector_index_versions")
    op.drop_table("model_versions")
    op.drop_table("audit_log")
    op.drop_index("ix_events_session_id_timestamp", table_name="events")
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_deleted_at")
        batch.drop_column("deleted_at")
