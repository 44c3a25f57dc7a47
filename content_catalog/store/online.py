"""The online path's per-request read: who is asking and what they did, in one read transaction.

Why: a recommendation used to ask the store three times (`user_for_session`, `get_user`, `user_history`),
each opening its own ORM session and transaction and two of them resolving the session's user again.
`requester` answers all three from one connection and one transaction, with Core statements
(no ORM identity map), with exactly the results of those three methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from content_catalog.schema import User
from content_catalog.store.models import ErasureRow, EventRow, UserRow, UserSessionRow
from content_catalog.store.records import HistoryEntry
from content_catalog.store.subjects import SESSION_SUBJECT_PREFIX, SubjectsMixin


@dataclass(frozen=True)
class Requester:
    """The resolved user id (given, or the session's linked user), their profile, recent history, and when
    the subject the service keys them by (the user id, else `session:<id>`) was last erased."""

    user_id: str | None
    user: User | None
    history: list[HistoryEntry] = field(default_factory=list)
    erased_at: datetime | None = None


class OnlineMixin(SubjectsMixin):
    """Reads of the recommendation hot path."""

    def requester(self, user_id: str | None, session_id: str | None, history_limit: int = 200) -> Requester:
        """`user_for_session` (when no user id is given) + `get_user` + `user_history(user_id, session_id,
        history_limit)` in one read transaction; no history without a user or a session."""
        self.subject_hash("")  # the first call may create the hashing secret: never inside this read
        with self._engine.connect() as connection, connection.begin():
            if user_id is None and session_id is not None:
                user_id = connection.scalar(
                    select(UserSessionRow.user_id).where(UserSessionRow.session_id == session_id)
                )
            user, sessions = None, []
            if user_id:
                sessions = list(
                    connection.scalars(
                        select(UserSessionRow.session_id)
                        .where(UserSessionRow.user_id == user_id)
                        .order_by(UserSessionRow.linked_at, UserSessionRow.session_id)
                    )
                )
                row = connection.execute(
                    select(UserRow.id, UserRow.audiences, UserRow.age_band, UserRow.town, UserRow.interests).where(
                        UserRow.id == user_id
                    )
                ).first()
                if row is not None:
                    user = User(
                        id=row.id,
                        audiences=list(row.audiences or []),
                        age_band=row.age_band,
                        town=row.town,
                        interests=list(row.interests or []),
                        sessions=sessions,
                    )
            subject = user_id or (f"{SESSION_SUBJECT_PREFIX}{session_id}" if session_id else None)
            erased = None
            if subject:
                erased = connection.scalar(
                    select(ErasureRow.erased_at).where(ErasureRow.subject == self.subject_hash(subject))
                )
            if history_limit <= 0 or not subject:
                return Requester(user_id, user, [], erased)
            linked = ({session_id} if session_id is not None else set()) | set(sessions)
            conditions = [EventRow.user_id == user_id] if user_id else []
            if linked:
                conditions.append(EventRow.session_id.in_(sorted(linked)))  # as `user_history` (BitmapOr)
            query = (
                select(EventRow.item_id, EventRow.type, EventRow.timestamp)
                .where(or_(*conditions))
                .order_by(EventRow.timestamp.desc(), EventRow.id.desc())
                .limit(history_limit)
            )
            history = [HistoryEntry(item_id, kind, ts) for item_id, kind, ts in connection.execute(query)]
        return Requester(user_id, user, history, erased)
