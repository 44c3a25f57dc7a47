"""Feed snapshots and per-store secrets: state every server process on one store must agree on.

A paging cursor names a snapshot (the frozen ranking of one feed); keeping snapshots in the store
instead of process memory lets any worker serve any page. Secrets (the cursor-signing key) are
created once per store, so workers started separately still verify each other's cursors.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from content_catalog.store.models import AppSecretRow, FeedSnapshotRow
from content_catalog.store.subjects import SubjectsMixin
from content_catalog.store.types import as_utc

MAX_SNAPSHOT_ID = 64
ERASURE_SKEW = timedelta(seconds=30)
"""A snapshot ranked up to this long after its subject's erasure was stamped is not stored either (hosts'
clocks differ; the same margin as `recommender.forgetting.CLOCK_SKEW`)."""


@dataclass(frozen=True)
class PendingSnapshot:
    """A snapshot ranked at `created_at` and not yet written (see `SnapshotsMixin.save_snapshots`)."""

    id: str
    payload: dict[str, Any]
    created_at: datetime
    ttl_seconds: float
    owner: str | None = None


class SnapshotsMixin(SubjectsMixin):
    """Feed-snapshot and shared-secret methods of the Store (not audited: no editor acts here)."""

    def save_snapshot(
        self, snapshot_id: str, payload: dict[str, Any], ttl_seconds: float, *, owner: str | None = None
    ) -> None:
        """Store (or replace) a snapshot that `load_snapshot` returns for the next `ttl_seconds`.

        owner: the subject it was ranked for (user id or `session:<id>`), kept as a keyed hash so an
        erasure of that subject deletes it."""
        if not snapshot_id or len(snapshot_id) > MAX_SNAPSHOT_ID:
            raise ValueError(f"snapshot_id: must be 1-{MAX_SNAPSHOT_ID} characters")
        if not isinstance(payload, dict):
            raise ValueError(f"payload: expected a JSON object, got {type(payload).__name__}")
        if not math.isfinite(ttl_seconds) or ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds: must be finite and > 0, got {ttl_seconds}")
        now = self.clock()
        values = {
            "id": snapshot_id,
            "payload": payload,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "owner": self.subject_hash(owner) if owner else None,
        }
        insert: Any = self._insert(FeedSnapshotRow.__table__).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=["id"], set_={"payload": insert.excluded.payload, "expires_at": insert.excluded.expires_at}
        )
        with self._write() as session:
            session.execute(statement)

    def save_snapshots(self, snapshots: Sequence[PendingSnapshot]) -> list[str]:
        """Store a batch of snapshots in one transaction (the write-behind path); returns the ids stored.

        A snapshot whose owner was erased at or after it was ranked (less `ERASURE_SKEW`) is skipped: a
        snapshot written behind the request may reach the store after the erasure deleted its subject's
        rows. On PostgreSQL the owners' shared subject locks make the check and the insert atomic against a
        concurrent erasure (which takes them exclusively); SQLite serialises writers anyway."""
        for snap in snapshots:
            if not snap.id or len(snap.id) > MAX_SNAPSHOT_ID:
                raise ValueError(f"snapshot_id: must be 1-{MAX_SNAPSHOT_ID} characters")
            if not math.isfinite(snap.ttl_seconds) or snap.ttl_seconds <= 0:
                raise ValueError(f"ttl_seconds: must be finite and > 0, got {snap.ttl_seconds}")
        owners = {snap.owner: self.subject_hash(snap.owner) for snap in snapshots if snap.owner}
        with self._write() as session:
            self._lock_subjects(session, owners.values(), exclusive=False)
            erased = self._erasure_times(session, owners.values())
            rows = []
            for snap in snapshots:
                owner = owners.get(snap.owner) if snap.owner else None
                at = erased.get(owner) if owner else None
                if at is not None and as_utc(at) >= as_utc(snap.created_at) - ERASURE_SKEW:
                    continue
                created = as_utc(snap.created_at)
                rows.append(
                    {
                        "id": snap.id,
                        "payload": snap.payload,
                        "created_at": created,
                        "expires_at": created + timedelta(seconds=snap.ttl_seconds),
                        "owner": owner,
                    }
                )
            if rows:
                insert: Any = self._insert(FeedSnapshotRow.__table__)
                session.execute(insert.on_conflict_do_nothing(index_elements=["id"]), rows)
        return [row["id"] for row in rows]

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        """The snapshot's payload, or None when it never existed or has expired."""
        query = select(FeedSnapshotRow.payload, FeedSnapshotRow.expires_at).where(FeedSnapshotRow.id == snapshot_id)
        with self._read() as session:
            row = session.execute(query).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return dict(row.payload)

    def delete_snapshot(self, snapshot_id: str) -> bool:
        """Delete one snapshot; False when there was none."""
        with self._write() as session:
            return bool(session.execute(delete(FeedSnapshotRow).where(FeedSnapshotRow.id == snapshot_id)).rowcount)

    def purge_snapshots(self, before: datetime | None = None) -> int:
        """Delete snapshots that expire at or before `before` (default: now); returns how many."""
        cutoff = self.clock() if before is None else as_utc(before)
        with self._write() as session:
            return int(session.execute(delete(FeedSnapshotRow).where(FeedSnapshotRow.expires_at <= cutoff)).rowcount)

    def trim_snapshots(self, keep: int) -> int:
        """Delete all but the `keep` newest snapshots (the cap on what feeds may store); returns how many.

        Why: every first page writes one snapshot (~18 KB with 200 ranked ids and their reasons), so without
        a cap a crawler could grow the database without bound within one TTL.
        """
        if keep < 0:
            raise ValueError(f"keep: must be >= 0, got {keep}")
        newest_first = (FeedSnapshotRow.created_at.desc(), FeedSnapshotRow.id.desc())
        beyond = select(FeedSnapshotRow.id).order_by(*newest_first).offset(keep).scalar_subquery()
        with self._write() as session:
            return int(session.execute(delete(FeedSnapshotRow).where(FeedSnapshotRow.id.in_(beyond))).rowcount)

    def count_snapshots(self) -> int:
        """How many snapshot rows are stored (expired ones included until a purge)."""
        with self._read() as session:
            return int(session.scalar(select(func.count()).select_from(FeedSnapshotRow)) or 0)

    def shared_secret(self, name: str) -> str:
        """The store's secret called `name`, created (random, 256 bits) by whichever process asks first."""
        if not name or len(name) > 100:
            raise ValueError("name: must be 1-100 characters")
        query = select(AppSecretRow.value).where(AppSecretRow.name == name)
        with self._read() as session:
            value = session.scalar(query)
        if value is not None:
            return value
        candidate = {"name": name, "value": secrets.token_urlsafe(32), "created_at": self.clock()}
        with self._write() as session:
            # Two processes may both get here: the first insert wins and both read the winner back.
            insert: Any = self._insert(AppSecretRow.__table__).values(**candidate)
            session.execute(insert.on_conflict_do_nothing())
            return str(session.scalar(query))
