"""Initial schema: items with audience-tag layers and history, users and sessions, events, rules, experiments.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("topic_keys", sa.String(1000), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("audience_keys", sa.String(200), nullable=False),
        sa.Column("feed_audiences", sa.JSON(), nullable=False),
        sa.Column("override_audiences", sa.JSON(), nullable=True),
        sa.Column("auto_audiences", sa.JSON(), nullable=False),
        sa.Column("source_org", sa.String(200), nullable=True),
        sa.Column("town", sa.String(50), nullable=True),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("reading_level", sa.String(20), nullable=False),
        sa.Column("duration_minutes", sa.Float(), nullable=True),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("cover_url", sa.String(2000), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_index("ix_items_format", "items", ["format"])
    op.create_index("ix_items_published_at", "items", ["published_at"])
    op.create_index("ix_items_updated_at", "items", ["updated_at"])

    op.create_table(
        "item_audience_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("old", sa.JSON(), nullable=False),
        sa.Column("new", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_item_audience_history_item_id_items", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_item_audience_history"),
    )
    op.create_index("ix_item_audience_history_item_id", "item_audience_history", ["item_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("age_band", sa.String(20), nullable=True),
        sa.Column("town", sa.String(50), nullable=True),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_table(
        "user_sessions",
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_sessions_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", name="pk_user_sessions"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("dwell_seconds", sa.Float(), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("experiment", sa.String(200), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.create_index("ix_events_user_id_timestamp", "events", ["user_id", "timestamp"])
    op.create_index("ix_events_item_id", "events", ["item_id"])
    op.create_index("ix_events_timestamp", "events", ["timestamp"])

    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("audience", sa.String(20), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("starts_at", TS, nullable=True),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
    )
    op.create_index("ix_rules_item_id", "rules", ["item_id"])

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )


def downgrade() -> None:
    for table in (
        "experiments",
        "rules",
        "events",
        "user_sessions",
        "users",
        "item_audience_history",
        "items",
    ):
        op.drop_table(table)
