"""Feed snapshots shared by all server processes, per-store secrets, and experiment variant params.

An older store (0002) upgrades in place: every experiment gets `params`, filled from the newest
`experiments.params` audit entry the API used to write as a stopgap (else `{}`).

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
STOPGAP_ACTION = "experiments.params"
TARGET_PREFIX = "experiment:"


def upgrade() -> None:
    op.create_table(
        "feed_snapshots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feed_snapshots"),
    )
    op.create_index("ix_feed_snapshots_expires_at", "feed_snapshots", ["expires_at"])

    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_app_secrets"),
    )

    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
    _copy_stopgap_params()
    with op.batch_alter_table("experiments") as batch:
        batch.alter_column("params", existing_type=sa.JSON(), nullable=False)


def _copy_stopgap_params() -> None:
    """Fill `experiments.params` from the newest stopgap audit entry per experiment (else `{}`)."""
    experiments = sa.table("experiments", sa.column("name", sa.String()), sa.column("params", sa.JSON()))
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("action", sa.String()),
        sa.column("target", sa.String()),
        sa.column("payload", sa.JSON()),
    )
    connection = op.get_bind()
    latest: dict[str, dict[str, Any]] = {}
    rows = connection.execute(
        sa.select(audit.c.target, audit.c.payload).where(audit.c.action == STOPGAP_ACTION).order_by(audit.c.id)
    )
    for target, payload in rows:
        if target.startswith(TARGET_PREFIX) and isinstance(payload, dict) and isinstance(payload.get("params"), dict):
            latest[target[len(TARGET_PREFIX) :]] = payload["params"]
    for (name,) in connection.execute(sa.select(experiments.c.name)).all():
        connection.execute(sa.update(experiments).where(experiments.c.name == name).values(params=latest.get(name, {})))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("params")
    op.drop_table("app_secrets")
    op.drop_index("ix_feed_snapshots_expires_at", table_name="feed_snapshots")
    op.drop_table("feed_snapshots")
