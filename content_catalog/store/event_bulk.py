"""The one write path of events: validated rows in, one transaction per call, set-based SQL inside.

Why not the ORM/`insertmanyvalues`: binding every value through SQLAlchemy's type processors and
returning every inserted id cost ~190 µs per event (20 s per 100k). Here the rows are bound once by the
DBAPI into an unindexed temporary table (SQLite: `executemany`; PostgreSQL: `COPY`), and the rest is
set-based SQL: which rows are new (their roll-up days are marked dirty once per call), then one
`INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING` in batch order.

Semantics are those `Store.add_events` always had: an event id already stored or repeated in the call
is a duplicate (the first occurrence wins); an event of a user or anonymous session erased after it
happened is refused and counted as erased (subjects locked shared on PostgreSQL, as before); the UTC
days of newly stored reach events (`REACH_TYPES`) get their roll-up `dirty` counter bumped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from content_catalog.store.models import ErasureRow
from content_catalog.store.records import AddEventsResult
from content_catalog.store.stats_rollup import REACH_TYPES, mark_days_dirty
from content_catalog.store.subjects import SubjectsMixin, session_subject
from content_catalog.store.types import as_utc, utc_now


class EventValues(NamedTuple):
    """One validated event as the store writes it (`timestamp` aware; ids already pseudonymised)."""

    event_id: str
    user_id: str | None
    session_id: str | None
    item_id: str
    type: str
    timestamp: datetime
    dwell_seconds: float | None
    channel: str | None
    experiment: str | None
    position: int | None


_COLUMNS = (*EventValues._fields, "received_at")
_COLUMN_LIST = ", ".join(_COLUMNS)
_STAGE = "kepu_event_stage"
_LOOKUP_CHUNK = 5_000  # ids per IN (...) look-up: far below SQLite's and PostgreSQL's bind limits
_REACH_SQL = ", ".join(f"'{t}'" for t in REACH_TYPES)
_TAB = "\t"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class EventBulkMixin(SubjectsMixin):
    """`insert_event_values`: the fast, semantics-preserving event write used by every caller."""

    def insert_event_values(self, values: Sequence[EventValues]) -> AddEventsResult:
        """Store validated events in one transaction (see the module docstring for the rules)."""
        unique = list({v.event_id: v for v in reversed(values)}.values())[::-1]  # first occurrence wins
        if not unique:
            return AddEventsResult(accepted=0, duplicates=len(values))
        with self._write() as session:
            kept = self._not_erased(session, unique)
            accepted = self._stage_and_insert(session, kept) if kept else 0
        erased = len(unique) - len(kept)
        return AddEventsResult(accepted=accepted, duplicates=len(values) - accepted - erased, erased=erased)

    # ------------------------------------------------------------------------------------- erasure
    def _not_erased(self, session: Session, values: list[EventValues]) -> list[EventValues]:
        """The events whose subject was not erased after they happened (subjects locked shared first)."""
        subjects = {_subject(v) for v in values}
        subjects.discard(None)
        hashes = {subject: self.subject_hash(subject) for subject in subjects if subject}
        self._lock_subjects(session, hashes.values(), exclusive=False)
        erased = self._erasures_among(session, list(hashes.values()))
        if not erased:
            return values
        refused_at = {subject: erased[h] for subject, h in hashes.items() if h in erased}

        def kept(value: EventValues) -> bool:
            when = refused_at.get(_subject(value) or "")
            return when is None or as_utc(value.timestamp) >= when

        return [v for v in values if kept(v)]

    @staticmethod
    def _erasures_among(session: Session, hashes: list[str]) -> dict[str, datetime]:
        """subject hash -> erasure time, looked up in chunks (a file batch may name 100k subjects)."""
        found: dict[str, datetime] = {}
        if not hashes or session.scalar(select(ErasureRow.subject).limit(1)) is None:
            return found  # no tombstone at all: the common case costs one tiny query
        for lo in range(0, len(hashes), _LOOKUP_CHUNK):
            chunk = sorted(hashes[lo : lo + _LOOKUP_CHUNK])
            query = select(ErasureRow.subject, ErasureRow.erased_at).where(ErasureRow.subject.in_(chunk))
            rows = session.execute(query)
            found.update({subject: as_utc(at) for subject, at in rows})
        return found

    # -------------------------------------------------------------------------------------- insert
    def _stage_and_insert(self, session: Session, values: list[EventValues]) -> int:
        """Stage the rows, mark the days of the new reach events dirty, insert; returns rows inserted."""
        now = utc_now()
        connection = session.connection()
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            if self.dialect == "postgresql":
                days, accepted = _postgres_insert(cursor, values, now)
            else:
                days, accepted = _sqlite_insert(cursor, values, now)
        finally:
            cursor.close()
        mark_days_dirty(session, self.dialect, days)
        return accepted


def _subject(value: EventValues) -> str | None:
    """An event with a user id is that user's; a session counts only for anonymous events (as in erasure)."""
    if value.user_id:
        return value.user_id
    return session_subject(value.session_id) if value.session_id else None


def _sqlite_text(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores for a UTC instant ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_insert(cursor: Any, values: list[EventValues], now: datetime) -> tuple[list[str], int]:
    received = _sqlite_text(now)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (event_id TEXT, user_id TEXT, session_id TEXT, item_id TEXT,"
        " type TEXT, timestamp TEXT, dwell_seconds REAL, channel TEXT, experiment TEXT, position INTEGER,"
        " received_at TEXT)"
    )
    cursor.execute(f"DELETE FROM {_STAGE}")
    cursor.executemany(
        f"INSERT INTO {_STAGE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*v[:5], _sqlite_text(v.timestamp), *v[6:], received) for v in values],
    )
    cursor.execute(
        f"SELECT DISTINCT substr(s.timestamp, 1, 10) FROM {_STAGE} s WHERE s.type IN ({_REACH_SQL})"
        " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id)"
    )
    days = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} WHERE true ORDER BY rowid"
        " ON CONFLICT (event_id) DO NOTHING"
    )
    accepted = cursor.rowcount
    cursor.execute(f"DELETE FROM {_STAGE}")
    return days, accepted


def _copy_field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def _postgres_insert(cursor: Any, values: list[EventValues], now: datetime) -> tuple[list[str], int]:
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (seq bigint, event_id text, user_id text, session_id text,"
        " item_id text, type text, timestamp timestamptz, dwell_seconds double precision, channel text,"
        " experiment text, position integer, received_at timestamptz) ON COMMIT DELETE ROWS"
    )
    received = now.astimezone(UTC).isoformat()
    buffer = io.StringIO()
    write = buffer.write
    for seq, v in enumerate(values):
        write(f"{seq}\t{_TAB.join(map(_copy_field, v))}\t{received}\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {_STAGE} (seq, {_COLUMN_LIST}) FROM STDIN", buffer)
    cursor.execute(
        f"WITH inserted AS (INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} ORDER BY seq"
        f" ON CONFLICT (event_id) DO NOTHING RETURNING type, timestamp)"
        " SELECT count(*), array_agg(DISTINCT to_char(timezone('UTC', timestamp), 'YYYY-MM-DD'))"
        f" FILTER (WHERE type IN ({_REACH_SQL})) FROM inserted"
    )
    accepted, days = cursor.fetchone()
    return list(days or []), int(accepted)
