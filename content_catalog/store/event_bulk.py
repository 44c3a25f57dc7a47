"""The one write path of events: validated rows in, one transaction per call, set-based SQL inside.

Why not the ORM/`insertmanyvalues`: binding every value through SQLAlchemy's type processors and
returning every inserted id cost ~190 µs per event (20 s per 100k). Here the rows are plain tuples with
the timestamp already as UTC text (`EventTuple`: a file ingest copies it from the input instead of
building a datetime per event, and both stores take that text as is), bound once by the DBAPI
(SQLite: one `executemany` of `INSERT ... ON CONFLICT (event_id) DO NOTHING`; PostgreSQL: `COPY`
into a temporary table, then one `INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`), in batch
order, and the UTC days of the new rows are read back in SQL and marked dirty once per call.

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

from content_catalog.schema import Event
from content_catalog.store.models import ErasureRow, ItemRow
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


EventTuple = tuple[str, str | None, str | None, str, str, str, float | None, str | None, str | None, int | None]
"""`EventValues` as a plain tuple with `timestamp` as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (`utc_text`):
the shape `insert_event_tuples` writes. That text is what SQLAlchemy stores for a SQLite DATETIME, sorts
like the instant, and PostgreSQL reads as UTC with '+00' appended."""


def event_values(event: Event) -> EventValues:
    """The row `insert_event_values` writes for a validated `Event`."""
    return EventValues(
        event.event_id,
        event.user_id,
        event.session_id,
        event.item_id,
        event.type.value,
        event.timestamp,
        event.dwell_seconds,
        event.channel,
        event.experiment,
        event.position,
    )


def utc_text(moment: datetime) -> str:
    """The UTC text of an instant (`EventTuple.timestamp`); naive input is taken to be UTC."""
    return (moment if moment.tzinfo is UTC else as_utc(moment)).isoformat(" ", "microseconds")[:26]


def event_tuple(values: EventValues) -> EventTuple:
    """The `EventTuple` of a validated `EventValues`."""
    return (*values[:5], utc_text(values.timestamp), *values[6:])  # type: ignore[return-value]


_COLUMNS = (*EventValues._fields, "received_at")
_COLUMN_LIST = ", ".join(_COLUMNS)
_STAGE = "kepu_event_stage"
_LOOKUP_CHUNK = 5_000  # ids per IN (...) look-up: far below SQLite's and PostgreSQL's bind limits
_SQLITE_BULK_CACHE = -131_072  # KiB: a 128 MB page cache while a batch updates the events indexes
_SQLITE_DEFAULT_CACHE = -2_000  # SQLite's default (2 MB), restored after the batch
_REACH_SQL = ", ".join(f"'{t}'" for t in REACH_TYPES)
_NULL = "\\N"  # COPY text format
_UNIQUE_VIOLATION = "23505"  # SQLSTATE
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class EventBulkMixin(SubjectsMixin):
    """`insert_event_values`: the fast, semantics-preserving event write used by every caller."""

    def insert_event_values(self, values: Sequence[EventValues]) -> AddEventsResult:
        """Store validated events in one transaction (see the module docstring for the rules)."""
        return self.insert_event_tuples([event_tuple(v) for v in values])

    def insert_event_tuples(self, rows: Sequence[EventTuple]) -> AddEventsResult:
        """`insert_event_values` for rows already in the stored shape (the file ingest's fast path)."""
        unique = list(rows)
        if len({row[0] for row in unique}) != len(unique):
            first: dict[str, EventTuple] = {}
            for row in unique:
                first.setdefault(row[0], row)  # the first occurrence wins, batch order is kept
            unique = list(first.values())
        if not unique:
            return AddEventsResult(accepted=0, duplicates=len(rows))
        with self._write() as session:
            kept = self._not_erased(session, unique)
            accepted = self._stage_and_insert(session, kept) if kept else 0
        erased = len(unique) - len(kept)
        return AddEventsResult(accepted=accepted, duplicates=len(rows) - accepted - erased, erased=erased)

    def live_item_ids(self, ids: set[str]) -> set[str]:
        """The ids among `ids` of items that exist and are not deleted (events may only name those).

        Many ids (a file batch): one scan of the live ids beats thousands of IN look-ups."""
        live = select(ItemRow.id).where(ItemRow.deleted_at.is_(None))
        with self._read() as session:
            connection = session.connection()  # Core, not ORM: no per-row entity loading
            if len(ids) > _LOOKUP_CHUNK:
                return ids & set(connection.execute(live).scalars().all())
            return set(connection.execute(live.where(ItemRow.id.in_(sorted(ids)))).scalars().all())

    # ------------------------------------------------------------------------------------- erasure
    def _not_erased(self, session: Session, values: list[EventTuple]) -> list[EventTuple]:
        """The events whose subject was not erased after they happened (subjects locked shared first)."""
        if self.dialect != "postgresql" and session.scalar(select(ErasureRow.subject).limit(1)) is None:
            return values  # no tombstone, and SQLite serialises writers: nothing to hash or lock
        subjects = {_subject(v) for v in values}
        hashes = {subject: self.subject_hash(subject) for subject in subjects if subject}
        self._lock_subjects(session, hashes.values(), exclusive=False)
        erased = self._erasures_among(session, list(hashes.values()))
        if not erased:
            return values
        refused_at = {subject: utc_text(erased[h]) for subject, h in hashes.items() if h in erased}

        def kept(value: EventTuple) -> bool:
            when = refused_at.get(_subject(value) or "")
            return when is None or value[5] >= when  # same fixed-width UTC text: compares as the instants

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
    def _stage_and_insert(self, session: Session, values: list[EventTuple]) -> int:
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


def _subject(value: EventTuple) -> str | None:
    """An event with a user id is that user's; a session counts only for anonymous events (as in erasure)."""
    if value[1]:
        return value[1]
    return session_subject(value[2]) if value[2] else None


def _sqlite_insert(cursor: Any, values: list[EventTuple], now: datetime) -> tuple[list[str], int]:
    """executemany straight into `events` (BEGIN IMMEDIATE holds the only write lock, so rows with ids
    above the previous maximum are exactly this call's new rows: their days are read back from them).
    `received_at` is one literal of our own formatting, so the rows are bound as given, not copied."""
    received = utc_text(now)
    cursor.execute("SELECT coalesce(max(id), 0) FROM events")
    (before,) = cursor.fetchone()
    cursor.execute(f"PRAGMA cache_size = {_SQLITE_BULK_CACHE}")
    try:
        cursor.executemany(
            f"INSERT INTO events ({_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{received}')"
            " ON CONFLICT (event_id) DO NOTHING",
            values,
        )
        accepted = cursor.rowcount
    finally:
        cursor.execute(f"PRAGMA cache_size = {_SQLITE_DEFAULT_CACHE}")
    cursor.execute(
        f"SELECT DISTINCT substr(timestamp, 1, 10) FROM events WHERE id > ? AND type IN ({_REACH_SQL})", (before,)
    )
    return [row[0] for row in cursor.fetchall()], accepted


def _copy_text(value: str | None) -> str:
    return _NULL if value is None else value.translate(_COPY_ESCAPES)


def _copy_number(value: float | None) -> str:
    return _NULL if value is None else repr(value)


def _copy_lines(values: list[EventTuple], received: str, numbered: bool) -> str:
    """The COPY text of the rows, built in one pass (`type` and the timestamp text need no escaping);
    `numbered` puts the batch position first (the staging table's `seq`)."""
    text = _copy_text
    lines = (
        f"{text(event_id)}\t{text(user)}\t{text(session)}\t{text(item)}\t{kind}\t{stamp}+00\t{_copy_number(dwell)}\t"
        f"{text(channel)}\t{text(experiment)}\t{_copy_number(position)}\t{received}\n"
        for event_id, user, session, item, kind, stamp, dwell, channel, experiment, position in values
    )
    if numbered:
        return "".join(f"{seq}\t{line}" for seq, line in enumerate(lines))
    return "".join(lines)


def _postgres_insert(cursor: Any, values: list[EventTuple], now: datetime) -> tuple[list[str], int]:
    """COPY straight into `events` when no event id is already stored (a first ingest of a file: the
    server then skips staging, sorting and speculative insertion); a unique violation rolls that back
    to a savepoint and the batch goes through the staging table with ON CONFLICT DO NOTHING."""
    received = now.astimezone(UTC).isoformat()
    cursor.execute("SAVEPOINT kepu_events_copy")
    try:
        cursor.copy_expert(
            f"COPY events ({_COLUMN_LIST}) FROM STDIN", io.StringIO(_copy_lines(values, received, False))
        )
    except Exception as exc:
        if getattr(exc, "pgcode", None) != _UNIQUE_VIOLATION:
            raise
        cursor.execute("ROLLBACK TO SAVEPOINT kepu_events_copy")
        return _postgres_staged_insert(cursor, values, received)
    cursor.execute("RELEASE SAVEPOINT kepu_events_copy")
    return sorted({v[5][:10] for v in values if v[4] in REACH_TYPES}), len(values)


def _postgres_staged_insert(cursor: Any, values: list[EventTuple], received: str) -> tuple[list[str], int]:
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (seq bigint, event_id text, user_id text, session_id text,"
        " item_id text, type text, timestamp timestamptz, dwell_seconds double precision, channel text,"
        " experiment text, position integer, received_at timestamptz) ON COMMIT DELETE ROWS"
    )
    buffer = io.StringIO(_copy_lines(values, received, numbered=True))
    cursor.copy_expert(f"COPY {_STAGE} (seq, {_COLUMN_LIST}) FROM STDIN", buffer)
    cursor.execute(
        f"WITH inserted AS (INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} ORDER BY seq"
        f" ON CONFLICT (event_id) DO NOTHING RETURNING type, timestamp)"
        " SELECT count(*), array_agg(DISTINCT to_char(timezone('UTC', timestamp), 'YYYY-MM-DD'))"
        f" FILTER (WHERE type IN ({_REACH_SQL})) FROM inserted"
    )
    accepted, days = cursor.fetchone()
    return list(days or []), int(accepted)
