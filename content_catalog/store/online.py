"""The online path's per-request read: who is asking, what they did, and what the catalog and editors say
now, in one read transaction.

Why: a recommendation used to ask the store up to six times (`user_for_session`, `get_user`,
`user_history`, `erased_at`, `catalog_version`, `list_rules`), each opening its own ORM session and
transaction and building its statements anew. `requester` answers them from one connection and one
transaction with Core statements built once at import (bound parameters only: no statement construction,
no ORM identity map per request), with exactly the results of those methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, or_, select

from content_catalog.schema import User
from content_catalog.store.editorial import _rule
from content_catalog.store.items import CATALOG_VERSION_QUERY, catalog_token
from content_catalog.store.models import EventRow, RuleRow, UserRow, UserSessionRow
from content_catalog.store.records import HistoryEntry, Rule
from content_catalog.store.subjects import ERASED_AT, SESSION_SUBJECT_PREFIX, SubjectsMixin
from content_catalog.store.types import as_utc

_SESSION_USER = select(UserSessionRow.user_id).where(UserSessionRow.session_id == bindparam("session_id"))
_USER_SESSIONS = (
    select(UserSessionRow.session_id)
    .where(UserSessionRow.user_id == bindparam("user_id"))
    .order_by(UserSessionRow.linked_at, UserSessionRow.session_id)
)
_USER = select(UserRow.id, UserRow.audiences, UserRow.age_band, UserRow.town, UserRow.interests).where(
    UserRow.id == bindparam("user_id")
)


def _history(by_user: bool, by_sessions: bool) -> object:
    conditions = [EventRow.user_id == bindparam("user_id")] if by_user else []
    if by_sessions:  # as `user_history` (BitmapOr on PostgreSQL)
        conditions.append(EventRow.session_id.in_(bindparam("sessions", expanding=True)))
    return (
        select(EventRow.item_id, EventRow.type, EventRow.timestamp)
        .where(or_(*conditions))
        .order_by(EventRow.timestamp.desc(), EventRow.id.desc())
        .limit(bindparam("limit"))
    )


_HISTORY = {(u, s): _history(u, s) for u, s in ((True, False), (True, True), (False, True))}
_RULES = select(RuleRow).order_by(RuleRow.created_at, RuleRow.id)


@dataclass(frozen=True)
class Requester:
    """The resolved user id (given, or the session's linked user), their profile, recent history, and when
    the subject the service keys them by (the user id, else `session:<id>`) was last erased. When asked
    for: the `catalog_version()` token and every rule (`list_rules()`: an editorial table, small; the
    caller keeps those active for its request, as `api.store_outage` does during an outage)."""

    user_id: str | None
    user: User | None
    history: list[HistoryEntry] = field(default_factory=list)
    erased_at: datetime | None = None
    catalog_version: str | None = None
    rules: list[Rule] | None = None


class OnlineMixin(SubjectsMixin):
    """Reads of the recommendation hot path."""

    def requester(
        self,
        user_id: str | None,
        session_id: str | None,
        history_limit: int = 200,
        *,
        catalog: bool = False,
        rules: bool = False,
    ) -> Requester:
        """`user_for_session` (when no user id is given) + `get_user` + `user_history(user_id, session_id,
        history_limit)` in one read transaction; no history without a user or a session. `catalog` adds
        `catalog_version()`, `rules` every rule (`list_rules()`)."""
        self.subject_hash("")  # the first call may create the hashing secret: never inside this read
        with self._engine.connect() as connection, connection.begin():
            version = catalog_token(connection.execute(CATALOG_VERSION_QUERY).one()) if catalog else None
            every_rule = [_rule(row) for row in connection.execute(_RULES)] if rules else None  # type: ignore[arg-type]
            if user_id is None and session_id is not None:
                user_id = connection.scalar(_SESSION_USER, {"session_id": session_id})
            user, sessions = None, []
            if user_id:
                sessions = list(connection.scalars(_USER_SESSIONS, {"user_id": user_id}))
                row = connection.execute(_USER, {"user_id": user_id}).first()
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
                erased = connection.scalar(ERASED_AT, {"subject": self.subject_hash(subject)})
            if history_limit <= 0 or not subject:
                return Requester(user_id, user, [], erased, version, every_rule)
            linked = ({session_id} if session_id is not None else set()) | set(sessions)
            statement = _HISTORY[(bool(user_id), bool(linked))]
            params = {"user_id": user_id, "sessions": sorted(linked), "limit": history_limit}
            result = connection.execute(statement, params)
            try:  # the driver's rows as they are: no Row objects nor type processors for up to 500 rows
                rows = result.cursor.fetchall()
            finally:
                result.close()
            if connection.dialect.name == "sqlite":  # naive UTC text, as UTCDateTime stored it
                parse = datetime.fromisoformat
                history = [HistoryEntry(i, kind, parse(ts).replace(tzinfo=UTC)) for i, kind, ts in rows]
            else:  # PostgreSQL's driver gives aware datetimes
                history = [HistoryEntry(i, kind, as_utc(ts)) for i, kind, ts in rows]
        return Requester(user_id, user, history, erased, version, every_rule)
