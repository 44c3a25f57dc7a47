"""Indexes for the editors' dashboard: a covering index for reach / top-item aggregates, one for experiments.

`ix_events_stats` (type, timestamp, channel, item_id, user_id, session_id) lets the reach and top-item
queries of `content_catalog.store.stats` read only the index for one time window of impressions and
clicks; `ix_events_experiment_type` (experiment, type, timestamp) serves per-variant CTR by label.
`bench/stats_queries.py` shows both in EXPLAIN on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_stats", "events", ["type", "timestamp", "channel", "item_id", "user_id", "session_id"])
    op.create_index("ix_events_experiment_type", "events", ["experiment", "type", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_events_experiment_type", table_name="events")
    op.drop_index("ix_events_stats", table_name="events")
