"""Personal-information rights: erasure tombstones and the owner of each feed snapshot.

`erasures` records that a subject (a user id or `session:<id>`) was erased and when, under a keyed
hash (HMAC-SHA256 with the store's `erasure_key` secret) so the table never holds the raw id. Workers
consult it so a model trained before the erasure no longer serves that subject's vector, and late
writes timestamped before the erasure are refused. `feed_snapshots.owner` (the same keyed hash) lets
an erasure delete the cursor snapshots ranked for that subject.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("erased_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_erasures"),
    )
    with op.batch_alter_table("feed_snapshots") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
    op.create_index("ix_feed_snapshots_owner", "feed_snapshots", ["owner"])
    op.create_index("ix_feed_snapshots_created_at", "feed_snapshots", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_feed_snapshots_created_at", table_name="feed_snapshots")
    op.drop_index("ix_feed_snapshots_owner", table_name="feed_snapshots")
    with op.batch_alter_table("feed_snapshots") as batch:
        batch.drop_column("owner")
    op.drop_table("erasures")
