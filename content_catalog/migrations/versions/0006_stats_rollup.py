"""Daily roll-up of the dashboard's reach and top-item counts for closed UTC days.

`stats_reach_daily` (day, audiences, channel, type, n) and `stats_items_daily` (day, audiences, item_id,
type, n) hold the GROUP BY of closed days; `stats_rollup_days` says which days are built and which were
changed since (dirty). Filled on demand by `content_catalog.store.stats_rollup`, so nothing to backfill here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_rollup_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("built", sa.Boolean(), nullable=False),
        sa.Column("dirty", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_stats_rollup_days")),
    )
    op.create_table(
        "stats_reach_daily",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_reach_daily")),
    )
    op.create_index(op.f("ix_stats_reach_daily_day"), "stats_reach_daily", ["day"])
    op.create_table(
        "stats_items_daily",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=True),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_items_daily")),
    )
    op.create_index(op.f("ix_stats_items_daily_day"), "stats_items_daily", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_stats_items_daily_day"), table_name="stats_items_daily")
    op.drop_table("stats_items_daily")
    op.drop_index(op.f("ix_stats_reach_daily_day"), table_name="stats_reach_daily")
    op.drop_table("stats_reach_daily")
    op.drop_table("stats_rollup_days")
