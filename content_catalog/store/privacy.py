"""Personal-information rights on the store: erase a user, export what is held about them, and purge
events and feed snapshots past the retention period (PIPL Art. 19, 44-47; see docs/privacy.md).

Erasure runs in two steps. First the tombstones (keyed hashes of the user id and of every linked
session) are committed, so every worker stops serving the user's trained vector and late writes
timestamped before now are refused. Then one transaction, holding the subjects' locks, deletes the
profile, the session links, every event of the user and of their linked anonymous sessions, and the
feed snapshots ranked for them, and writes one audit entry that names only a random reference and
counts. A feed page ranked while the erasure ran is discarded by the service when it sees the tombstone
(`recommender.forgetting`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from content_catalog.store.models import ErasureRow, EventRow, FeedSnapshotRow, UserRow, UserSessionRow
from content_catalog.store.records import ErasureResult, PurgeResult
from content_catalog.store.stats_rollup import mark_days_before_dirty, mark_event_days_dirty
from content_catalog.store.subjects import SubjectsMixin, owned_events, session_subject
from content_catalog.store.types import as_utc, utc_now

DEFAULT_PURGE_BATCH = 1_000


class PrivacyMixin(SubjectsMixin):
    """Erasure, export and retention methods of the Store."""

    # ------------------------------------------------------------------------------------------ erasure
    def erase_user(self, user_id: str, *, actor: str, now: datetime | None = None) -> ErasureResult:
        """Delete everything held about `user_id` (see the module docstring); safe to repeat."""
        if not user_id:
            raise ValueError("user_id: must not be empty")
        at = utc_now() if now is None else as_utc(now)
        # Create the store's hash key first, outside the write: on SQLite a first-ever key insert from
        # inside the write below would wait on this very transaction's lock (then "database is locked").
        self.subject_hash(user_id)
        with self._write() as session:
            self._tombstone(session, self._subjects(session, user_id), at)
        with self._write() as session:
            subjects = self._subjects(session, user_id)
            hashes = [self.subject_hash(s) for s in subjects]
            self._lock_subjects(session, hashes, exclusive=True)
            subjects = self._subjects(session, user_id)  # a session linked meanwhile is erased too
            hashes = [self.subject_hash(s) for s in subjects]
            self._tombstone(session, subjects, at)
            sessions = [s.removeprefix(SESSION_PREFIX) for s in subjects[1:]]
            owned = owned_events(user_id, sessions)
            mark_event_days_dirty(session, self.dialect, owned)  # the dashboard roll-up recounts those days
            events = session.execute(delete(EventRow).where(owned)).rowcount
            snapshots = session.execute(delete(FeedSnapshotRow).where(FeedSnapshotRow.owner.in_(hashes))).rowcount
            session.execute(delete(UserSessionRow).where(UserSessionRow.user_id == user_id))
            profile = session.execute(delete(UserRow).where(UserRow.id == user_id)).rowcount
            result = ErasureResult(
                reference=uuid.uuid4().hex,
                profile=bool(profile),
                sessions=len(sessions),
                events=int(events),
                snapshots=int(snapshots),
            )
            counts = {"profile": result.profile, "sessions": result.sessions, "events": result.events}
            counts["snapshots"] = result.snapshots
            self._audit(session, actor, "users.erase", f"erasure:{result.reference}", counts)
            return result

    @staticmethod
    def _subjects(session: Session, user_id: str) -> list[str]:
        """[user id, `session:<id>` of every session linked to them]."""
        query = select(UserSessionRow.session_id).where(UserSessionRow.user_id == user_id)
        linked = session.scalars(query.order_by(UserSessionRow.session_id))
        return [user_id, *(session_subject(s) for s in linked)]

    def _tombstone(self, session: Session, subjects: list[str], at: datetime) -> None:
        rows = [{"subject": self.subject_hash(s), "erased_at": at} for s in subjects]
        insert: Any = self._insert(ErasureRow.__table__)
        statement = insert.on_conflict_do_update(
            index_elements=["subject"], set_={"erased_at": insert.excluded.erased_at}
        )
        session.execute(statement, rows)

    # ------------------------------------------------------------------------------------------ access
    def export_user(self, user_id: str) -> dict[str, Any] | None:
        """Everything held about `user_id` as JSON-ready data (profile, sessions, events, feed
        snapshots ranked for them), or None when nothing is held."""
        with self._read() as session:
            row = session.get(UserRow, user_id)
            links = session.execute(
                select(UserSessionRow.session_id, UserSessionRow.linked_at)
                .where(UserSessionRow.user_id == user_id)
                .order_by(UserSessionRow.linked_at, UserSessionRow.session_id)
            ).all()
            sessions = [s for s, _ in links]
            events = session.scalars(
                select(EventRow).where(owned_events(user_id, sessions)).order_by(EventRow.timestamp, EventRow.id)
            ).all()
            owners = [self.subject_hash(user_id), *(self.subject_hash(session_subject(s)) for s in sessions)]
            snapshots = session.execute(
                select(FeedSnapshotRow.created_at, FeedSnapshotRow.expires_at, FeedSnapshotRow.payload)
                .where(FeedSnapshotRow.owner.in_(owners))
                .order_by(FeedSnapshotRow.created_at)
            ).all()
        if row is None and not links and not events and not snapshots:
            return None
        profile = None
        if row is not None:
            profile = {
                "id": row.id,
                "audiences": list(row.audiences or []),
                "age_band": row.age_band,
                "town": row.town,
                "interests": list(row.interests or []),
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            }
        return {
            "user_id": user_id,
            "exported_at": utc_now().isoformat(),
            "profile": profile,
            "sessions": [{"session_id": s, "linked_at": at.isoformat()} for s, at in links],
            "events": [_event_json(e) for e in events],
            "feed_snapshots": [
                {"created_at": c.isoformat(), "expires_at": x.isoformat(), "ranked_item_ids": list(p.get("ranked", []))}
                for c, x, p in snapshots
            ],
        }

    # ------------------------------------------------------------------------------------------ retention
    def purge_before(
        self, cutoff: datetime, *, batch_size: int = DEFAULT_PURGE_BATCH, now: datetime | None = None
    ) -> PurgeResult:
        """Delete events that happened before `cutoff` and feed snapshots created before it or expired
        (at `now`), in transactions of at most `batch_size` rows so writers never wait long."""
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        cut, at = as_utc(cutoff), utc_now() if now is None else as_utc(now)
        events, batches_e = self._delete_in_batches(EventRow.id, EventRow.timestamp < cut, batch_size)
        with self._write() as session:
            mark_days_before_dirty(session, cut)  # the dashboard roll-up recounts the purged days
        stale = or_(FeedSnapshotRow.created_at < cut, FeedSnapshotRow.expires_at <= at)
        snapshots, batches_s = self._delete_in_batches(FeedSnapshotRow.id, stale, batch_size)
        return PurgeResult(cutoff=cut, events=events, snapshots=snapshots, batches=batches_e + batches_s)

    def _delete_in_batches(self, key: Any, condition: Any, batch_size: int) -> tuple[int, int]:
        """Delete rows matching `condition`, `batch_size` keys per transaction; (rows deleted, batches)."""
        total = batches = 0
        while True:
            with self._write() as session:
                keys = session.scalars(select(key).where(condition).order_by(key).limit(batch_size)).all()
                if keys:
                    session.execute(delete(key.class_).where(key.in_(keys)))
            if not keys:
                return total, batches
            total, batches = total + len(keys), batches + 1
            if len(keys) < batch_size:
                return total, batches


SESSION_PREFIX = session_subject("")


def _event_json(row: EventRow) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "user_id": row.user_id,
        "session_id": row.session_id,
        "item_id": row.item_id,
        "type": row.type,
        "timestamp": row.timestamp.isoformat(),
        "dwell_seconds": row.dwell_seconds,
        "channel": row.channel,
        "experiment": row.experiment,
        "position": row.position,
        "received_at": row.received_at.isoformat(),
    }
