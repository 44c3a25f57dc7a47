"""The store's tables as a typed SQLAlchemy 2 ORM (the shape `alembic upgrade head` produces).

Production code never calls `create_all`: the schema is owned by the Alembic revisions in
`content_catalog/migrations/versions`, and a test checks that these models and the migrations agree.

Item audience tags are kept in three layers (see `content_catalog.store.audience_merge`):
`override_audiences` (editor override API), `feed_audiences` (editor tags carried by ingested records)
and `auto_audiences` (the tagger). `audiences` is the effective set readers get, and `audience_keys` /
`topic_keys` (",a,b,") make audience/topic filters plain portable `LIKE` queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from content_catalog.store.types import UTCDateTime, utc_now

JsonList = list[Any]
JsonDict = dict[str, Any]


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, shared with the migrations so both backends name things alike."""


class Base(DeclarativeBase):
    """Declarative base of every store table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        JsonDict: JSON(),
        JsonList: JSON(),
    }


class ItemRow(Base):
    """One catalog item (soft-deleted rows keep `deleted_at` and are invisible to readers)."""

    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str | None] = mapped_column(Text)
    topics: Mapped[JsonList] = mapped_column(default=list)
    topic_keys: Mapped[str] = mapped_column(String(1000), default=",")
    format: Mapped[str] = mapped_column(String(20), index=True)
    audiences: Mapped[JsonList] = mapped_column(default=list)
    audience_keys: Mapped[str] = mapped_column(String(200), default=",")
    feed_audiences: Mapped[JsonList] = mapped_column(default=list)
    override_audiences: Mapped[JsonList | None] = mapped_column()
    auto_audiences: Mapped[JsonList] = mapped_column(default=list)
    source_org: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(50))
    published_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    reading_level: Mapped[str] = mapped_column(String(20), default="medium")
    duration_minutes: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(String(2000))
    cover_url: Mapped[str | None] = mapped_column(String(2000))
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)


class AudienceHistoryRow(Base):
    """One change of an item's effective audience tags: who, when, from what to what, and which layer."""

    __tablename__ = "item_audience_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(128), ForeignKey("items.id", ondelete="CASCADE"), index=True)
    old: Mapped[JsonList] = mapped_column()
    new: Mapped[JsonList] = mapped_column()
    source: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utc_now)


class UserRow(Base):
    """A known user (segment, age band, town, interests)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    audiences: Mapped[JsonList] = mapped_column(default=list)
    age_band: Mapped[str | None] = mapped_column(String(20))
    town: Mapped[str | None] = mapped_column(String(50))
    interests: Mapped[JsonList] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class UserSessionRow(Base):
    """Links an anonymous session id to the user who later identified, so its history merges."""

    __tablename__ = "user_sessions"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utc_now)


class EventRow(Base):
    """One interaction; `event_id` (the client's id) is unique so replays are no-ops."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_id_timestamp", "user_id", "timestamp"),
        Index("ix_events_session_id_timestamp", "session_id", "timestamp"),
        # Dashboard aggregates (content_catalog.store.stats): covering, so reach and top items read only the index.
        Index("ix_events_stats", "type", "timestamp", "channel", "item_id", "user_id", "session_id"),
        Index("ix_events_experiment_type", "experiment", "type", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128))
    item_id: Mapped[str] = mapped_column(String(128))  # no index of its own: migration 0007
    type: Mapped[str] = mapped_column(String(20))
    timestamp: Mapped[datetime] = mapped_column(index=True)
    dwell_seconds: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(20))
    experiment: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utc_now)


class RuleRow(Base):
    """An editorial rule: pin an item at a slot, boost it, or block it, in an optional window and scope."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[str] = mapped_column(String(128), index=True)
    position: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[float | None] = mapped_column(Float)
    audience: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    note: Mapped[str | None] = mapped_column(Text)


class ExperimentRow(Base):
    """An A/B experiment: variant name -> traffic share, and variant name -> what that variant changes."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    variants: Mapped[JsonDict] = mapped_column()
    params: Mapped[JsonDict] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class AuditRow(Base):
    """Who did what to which target (editor and admin writes)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(300))
    payload: Mapped[JsonDict] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class ModelVersionRow(Base):
    """A trained model bundle; a partial unique index lets at most one row be active."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index(
            "uq_model_versions_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(100), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    manifest: Mapped[JsonDict] = mapped_column(default=dict)
    metrics: Mapped[JsonDict] = mapped_column(default=dict)
    checksum: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class VectorIndexVersionRow(Base):
    """A built vector index and the catalog version it was built from (stale when the catalog moves on)."""

    __tablename__ = "vector_index_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    encoder: Mapped[str] = mapped_column(String(300), index=True)
    catalog_version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1000))
    item_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class FeedSnapshotRow(Base):
    """A frozen feed ranking that paging cursors point to, shared by every server process on the store."""

    __tablename__ = "feed_snapshots"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[JsonDict] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash of the subject ranked for


class AppSecretRow(Base):
    """A named random secret created once per store (e.g. the cursor-signing key all workers share)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ErasureRow(Base):
    """A subject (user id or `session:<id>`) that was erased, under a keyed hash: never the raw id."""

    __tablename__ = "erasures"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column()


class StatsDayRow(Base):
    """Roll-up state of one closed UTC day: `built` once its daily counts exist, `dirty` bumped by every
    write that changes the day's reach (late events, erasure, retention purge, a user's audiences or a
    session link). A day is served from the roll-up only when built and `dirty == 0`."""

    __tablename__ = "stats_rollup_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    built: Mapped[bool] = mapped_column(Boolean, default=False)
    dirty: Mapped[int] = mapped_column(Integer, default=0)


class StatsReachDailyRow(Base):
    """Impressions or clicks of one closed UTC day per (user audiences JSON text, channel)."""

    __tablename__ = "stats_reach_daily"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    audiences: Mapped[str | None] = mapped_column(Text)  # NULL: no known user (the anonymous bucket)
    channel: Mapped[str | None] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)


class StatsItemsDailyRow(Base):
    """Impressions or clicks of one closed UTC day per (user audiences JSON text, item)."""

    __tablename__ = "stats_items_daily"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    audiences: Mapped[str | None] = mapped_column(Text)
    item_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)
