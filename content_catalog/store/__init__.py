"""Kepu's persistent store (SQLAlchemy 2 + Alembic): `Store` and the records it returns."""

from content_catalog.store.errors import ConflictError, NotFoundError, StoreError
from content_catalog.store.events import EVENT_COLUMNS
from content_catalog.store.records import (
    AddEventsResult,
    AudienceChange,
    AuditEntry,
    ErasureResult,
    Experiment,
    HistoryEntry,
    ItemChanges,
    ModelVersion,
    PurgeResult,
    Rule,
    RuleKind,
    UpsertResult,
    VectorIndexVersion,
)
from content_catalog.store.store import Store

__all__ = [
    "EVENT_COLUMNS",
    "AddEventsResult",
    "AudienceChange",
    "AuditEntry",
    "ConflictError",
    "ErasureResult",
    "Experiment",
    "HistoryEntry",
    "ItemChanges",
    "ModelVersion",
    "NotFoundError",
    "PurgeResult",
    "Rule",
    "RuleKind",
    "Store",
    "StoreError",
    "UpsertResult",
    "VectorIndexVersion",
]
