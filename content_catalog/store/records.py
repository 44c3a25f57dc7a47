"""Plain, immutable records the Store returns (so callers never hold live ORM rows or sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from content_catalog.schema import AudienceTag


class RuleKind(StrEnum):
    """Editorial rule kinds: pin an item at a slot, boost its score, or block it."""

    PIN = "pin"
    BOOST = "boost"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an item upsert did; `unchanged` rows were identical and left untouched."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class ItemChanges:
    """Item rows written at or after a mark (`ItemsMixin.item_changes_since`): a catalog change feed.

    `items`: live items created or edited; `deleted`: ids soft-deleted; `mark`: where to continue (pass it
    to the next call). `complete` is False when more rows changed than asked for (a bulk
    ingest): the caller should reload the whole catalog instead."""

    items: list[Any]
    deleted: list[str]
    mark: datetime | None
    complete: bool = True


@dataclass(frozen=True, slots=True)
class AddEventsResult:
    """Events newly stored vs. replays of event ids already stored (or repeated in the batch), and
    events refused because their user or session was erased after they happened."""

    accepted: int = 0
    duplicates: int = 0
    erased: int = 0


@dataclass(frozen=True, slots=True)
class AudienceChange:
    """One change of an item's effective audience tags."""

    item_id: str
    old: list[AudienceTag]
    new: list[AudienceTag]
    source: str
    actor: str
    at: datetime


class HistoryEntry(NamedTuple):
    """One interaction in a user's history, most recent first."""

    item_id: str
    type: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class Rule:
    """An editorial pin/boost/block rule; None scopes and window ends mean "all" / "open-ended"."""

    id: int
    kind: RuleKind
    item_id: str
    position: int | None
    weight: float | None
    audience: str | None
    channel: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    created_by: str
    created_at: datetime
    note: str | None = None

    def is_active(self, at: datetime) -> bool:
        """True when `at` lies in [starts_at, ends_at)."""
        return (self.starts_at is None or self.starts_at <= at) and (self.ends_at is None or at < self.ends_at)


@dataclass(frozen=True, slots=True)
class Experiment:
    """An A/B experiment: variant name -> traffic share (shares sum to 1), and variant name -> what
    that variant changes (e.g. `{"mmr_lambda": 0.3}`; variants without an entry change nothing)."""

    name: str
    variants: dict[str, float]
    active: bool
    created_at: datetime
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited write."""

    id: int
    actor: str
    action: str
    target: str
    payload: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered model bundle."""

    version: str
    path: str
    created_at: datetime
    manifest: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    checksum: str | None = None
    active: bool = False


@dataclass(frozen=True, slots=True)
class VectorIndexVersion:
    """A built vector index and the catalog version it reflects."""

    encoder: str
    catalog_version: str
    path: str
    item_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What one erasure removed. `reference` names it in the audit log (which holds no personal data)."""

    reference: str
    profile: bool
    sessions: int
    events: int
    snapshots: int

    @property
    def found(self) -> bool:
        """Whether anything at all was held about the subject."""
        return self.profile or bool(self.sessions or self.events or self.snapshots)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one retention purge deleted, and the cut-off it applied."""

    cutoff: datetime
    events: int
    snapshots: int
    batches: int
