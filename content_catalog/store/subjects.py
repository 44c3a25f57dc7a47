"""Data subjects (a user id, or `session:<id>` for an anonymous browser) under a keyed hash.

Erasure tombstones and feed-snapshot owners are stored as HMAC-SHA256(store secret `erasure_key`,
subject) so those tables never hold a raw id, yet every worker on the store computes the same value.
On PostgreSQL, writes that touch a subject take an advisory transaction lock on it (shared for event
writes, exclusive for the erasure), so an event batch in flight either commits before the erasure
deletes it or sees the tombstone and is refused; SQLite serialises writers anyway (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, text
from sqlalchemy.orm import Session

from content_catalog.store.base import StoreBase
from content_catalog.store.models import ErasureRow, EventRow

SESSION_SUBJECT_PREFIX = "session:"
"""How an anonymous session is named as a subject (the same key the model bundle uses for it)."""

ERASURE_SECRET_NAME = "erasure_key"
SUBJECT_LOCK_BUCKETS = 1024
"""Advisory lock keys subjects are spread over: a batch holds at most this many shared locks."""
_SUBJECT_LOCK_BASE = 0x6B657075_00000000  # "kepu" in the high half: clear of the migration/roll-up keys


def owned_events(user_id: str, sessions: list[str]) -> ColumnElement[bool]:
    """Events of the user: theirs by user id, and anonymous events of the sessions linked to them
    (an event another user sent from a shared session stays that user's)."""
    condition = EventRow.user_id == user_id
    if sessions:
        condition = or_(condition, and_(EventRow.user_id.is_(None), EventRow.session_id.in_(sessions)))
    return condition


_HASHES_KEPT = 4_096

ERASED_AT = select(ErasureRow.erased_at).where(ErasureRow.subject == bindparam("subject"))
"""When one subject hash was last erased (statement built once: the online path runs it per request)."""


def session_subject(session_id: str) -> str:
    """The subject key of an anonymous session."""
    return f"{SESSION_SUBJECT_PREFIX}{session_id}"


class SubjectsMixin(StoreBase):
    """Keyed subject hashes, advisory subject locks and tombstone look-ups shared by the store's parts."""

    _subject_secret: bytes | None = None

    def shared_secret(self, name: str) -> str:  # pragma: no cover - provided by SnapshotsMixin
        raise NotImplementedError

    def subject_hash(self, subject: str) -> str:
        """The keyed hash a subject is stored under (64 hex characters). Remembered for the last few
        thousand subjects: a recommendation hashes its requester up to three times."""
        if self._subject_secret is None:
            self._subject_secret = self.shared_secret(ERASURE_SECRET_NAME).encode()
            self._subject_hashes: dict[str, str] = {}
        found = self._subject_hashes.get(subject)
        if found is None:
            found = hmac.digest(self._subject_secret, subject.encode(), hashlib.sha256).hex()  # one-shot C HMAC
            if len(self._subject_hashes) >= _HASHES_KEPT:
                self._subject_hashes = {}
            self._subject_hashes[subject] = found
        return found

    def _lock_subjects(self, session: Session, hashes: Iterable[str], *, exclusive: bool) -> None:
        """PostgreSQL: advisory transaction locks on these subjects, in one fixed order (no deadlocks).

        A lock covers a bucket of subjects (`SUBJECT_LOCK_BUCKETS`), not one subject: a bulk batch naming
        100k users would otherwise need 100k locks and overflow the server's lock table ("out of shared
        memory"). Two subjects sharing a bucket only serialise an erasure with unrelated event writes."""
        if self.dialect != "postgresql":
            return
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        keys = sorted({_SUBJECT_LOCK_BASE + int(h[:8], 16) % SUBJECT_LOCK_BUCKETS for h in hashes})
        if keys:  # unnest yields the sorted array in order, so locks are taken in that order
            statement = text(f"SELECT {function}(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)")
            session.execute(statement, {"keys": keys}).all()

    @staticmethod
    def _erasure_times(session: Session, hashes: Iterable[str]) -> dict[str, datetime]:
        """subject hash -> when it was last erased, for the given hashes that have a tombstone."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        rows = session.execute(select(ErasureRow.subject, ErasureRow.erased_at).where(ErasureRow.subject.in_(wanted)))
        return {subject: at for subject, at in rows}

    def erased_at(self, subject: str) -> datetime | None:
        """When `subject` (a user id or `session:<id>`) was last erased, or None."""
        hashed = self.subject_hash(subject)  # before the read: the first call may create the secret
        with self._engine.connect() as connection:  # Core, statement built once: checked on the hot path
            return connection.scalar(ERASED_AT, {"subject": hashed})
