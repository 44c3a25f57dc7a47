"""Drop `ix_events_item_id`: no query filters or orders events by item id alone, and every index on
`events` is paid on each insert (issue 8: bulk ingest at 50,000 events/s; this one cost ~10% of a
SQLite `executemany`, the item ids of a batch being spread all over it). Per-item counts read the covering
`ix_events_stats` (type, timestamp, channel, item_id, ...); training reads events in time order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_item_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_item_id", "events", ["item_id"])
