"""`kepu events ingest`'s file path as of commit 9ca28c7 (before issue 8's 50,000 events/s work), kept
verbatim for `bench/ingest.py` to measure as the "previous path" in the same run: stdlib `json`, a
validator building `EventValues` with datetimes, one HMAC per event, and the row written with a
per-value timestamp conversion (SQLite `executemany`, PostgreSQL `COPY` + `INSERT ... SELECT`)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from content_catalog.event_ingest import SUFFIXES, EventIngestReport
from content_catalog.ingest import RowError
from content_catalog.input_policy import EVENT_EARLIEST, event_time_bounds, forbidden_character
from content_catalog.pseudonyms import ClientIds
from content_catalog.schema import ID_PATTERN, Event, EventType
from content_catalog.store import Store
from content_catalog.store.event_bulk import EventValues, event_values
from content_catalog.store.models import ErasureRow
from content_catalog.store.records import AddEventsResult
from content_catalog.store.stats_rollup import REACH_TYPES, mark_days_dirty
from content_catalog.store.subjects import session_subject
from content_catalog.store.types import as_utc, utc_now
from content_catalog.taxonomy import CHANNELS

BATCH_ROWS = {"sqlite": 50_000, "postgresql": 20_000}


def _stored_or_none(ids: ClientIds, client_id: str | None) -> str | None:
    """`ClientIds.stored_or_none` as of 9ca28c7 (`hmac.new(...).hexdigest()` per call)."""
    if client_id is None:
        return None
    return hmac.new(ids._key or b"", client_id.encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ content_catalog/event_validation.py
FIELDS = frozenset(Event.model_fields)
_ID = re.compile(ID_PATTERN.removeprefix("^").removesuffix("$"))
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?")
_DECIMAL = re.compile(r"\d{1,9}(?:\.\d{1,9})?")
_DIGITS = re.compile(r"0|[1-9]\d{0,4}")
_TYPES = frozenset(t.value for t in EventType)


def _id_or_none(value: Any) -> tuple[bool, str | None]:
    """(ok, id) for an optional id field given as None or a canonical id string."""
    if value is None:
        return True, None
    return (True, value) if type(value) is str and _ID.fullmatch(value) else (False, None)


def _timestamp(value: Any, latest: datetime) -> datetime | None:
    if type(value) is not str or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if EVENT_EARLIEST <= moment <= latest else None


def _number(value: Any, pattern: re.Pattern[str], kind: type) -> tuple[bool, Any]:
    """(ok, value) for an optional number given as None, a JSON number, or a plain decimal string (CSV)."""
    if value is None:
        return True, None
    if type(value) is str:
        return (True, kind(value)) if pattern.fullmatch(value) else (False, None)
    if type(value) is int or (type(value) is float and kind is float):
        return True, kind(value)
    return False, None


def _optional_text(value: Any, max_length: int) -> tuple[bool, str | None]:
    if value is None:
        return True, None
    if type(value) is not str or len(value) > max_length or value != value.strip():
        return False, None
    return forbidden_character(value) is None, value


def fast_event_values(record: Mapping[str, Any], latest: datetime) -> EventValues | None:
    """The stored row of a canonically spelled valid record, else None (then ask `Event`).

    `latest` is the newest accepted timestamp (`event_time_bounds()[1]`, computed once per batch)."""
    if not FIELDS.issuperset(record):
        return None
    event_id = record.get("event_id")
    if type(event_id) is not str or not 0 < len(event_id) <= 128 or event_id != event_id.strip():
        return None
    if forbidden_character(event_id) is not None:
        return None
    ok_user, user_id = _id_or_none(record.get("user_id"))
    ok_session, session_id = _id_or_none(record.get("session_id"))
    item_id, kind = record.get("item_id"), record.get("type")
    if not (ok_user and ok_session and (user_id or session_id)):
        return None
    if type(item_id) is not str or not _ID.fullmatch(item_id) or kind not in _TYPES or type(kind) is not str:
        return None
    timestamp = _timestamp(record.get("timestamp"), latest)
    ok_dwell, dwell = _number(record.get("dwell_seconds"), _DECIMAL, float)
    ok_position, position = _number(record.get("position"), _DIGITS, int)
    if timestamp is None or not ok_dwell or not ok_position:
        return None
    if (dwell is not None and not 0 <= dwell <= 86_400) or (position is not None and not 0 <= position <= 10_000):
        return None
    if kind == EventType.DWELL and dwell is None:
        return None
    channel, experiment = record.get("channel"), record.get("experiment")
    if channel is not None and (type(channel) is not str or channel not in CHANNELS):
        return None
    ok_experiment, experiment = _optional_text(experiment, 200)
    if not ok_experiment:
        return None
    return EventValues(event_id, user_id, session_id, item_id, kind, timestamp, dwell, channel, experiment, position)


def event_values_or_errors(record: Mapping[str, Any], latest: datetime) -> EventValues | list[tuple[str, str]]:
    """The stored row, or every `(field, reason)` the `Event` schema reports for this record."""
    fast = fast_event_values(record, latest)
    if fast is not None:
        return fast
    try:
        event = Event.model_validate(record)
    except ValidationError as exc:
        return [
            (
                ".".join(str(part) for part in error["loc"]) or "-",
                "unknown field (not allowed)"
                if error["type"] == "extra_forbidden"
                else error["msg"].removeprefix("Value error, "),
            )
            for error in exc.errors(include_url=False)
        ]
    return event_values(event)


def newest_accepted() -> datetime:
    """The newest event timestamp accepted now (the schema's bound)."""
    return event_time_bounds()[1]


# ----------------------------------------------------------------------- content_catalog/event_ingest.py
Numbered = tuple[str, int, Any]  # (file, line, raw record or RowError)


def read_event_records(path: Path) -> Iterator[Numbered]:
    """(file, line, record) of every row of a JSONL / CSV file; unparsable rows come as a RowError."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _jsonl(path) if kind == "jsonl" else _csv(path)


def _jsonl(path: Path) -> Iterator[Numbered]:
    name = str(path)
    with path.open(encoding="utf-8-sig", errors="strict") as handle:
        line = 0
        try:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield name, line, RowError(name, line, "-", f"not JSON: {exc.msg} (column {exc.colno})")
                    continue
                if not isinstance(record, dict):
                    yield name, line, RowError(name, line, "-", "expected a JSON object")
                    continue
                yield name, line, record
        except UnicodeDecodeError:
            yield name, line + 1, RowError(name, line + 1, "-", "not UTF-8 text")


def _csv(path: Path) -> Iterator[Numbered]:
    name = str(path)
    with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield name, 1, RowError(name, 1, "-", f"bad CSV header: {exc}")
            return
        if len(set(header)) != len(header) or "" in header:
            yield name, 1, RowError(name, 1, "-", "bad CSV header: duplicate or empty column name")
            return
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield name, start, RowError(name, start, "-", f"bad CSV row: {exc}")
                return
            previous_end = reader.line_num
            if not any(cells):
                continue
            if len(cells) != len(header):
                yield name, start, RowError(name, start, "-", f"expected {len(header)} cells, got {len(cells)}")
                continue
            yield name, start, {k: v for k, v in zip(header, cells, strict=True) if v != ""}


def ingest_event_files(
    store: Store, paths: Sequence[Path], ids: ClientIds | None = None, batch_rows: int | None = None
) -> EventIngestReport:
    """Validate and store the events of `paths` in batches (see the module docstring for the policy)."""
    report = EventIngestReport(files=[str(p) for p in paths])
    size = batch_rows or BATCH_ROWS.get(store.dialect, 5_000)
    known_items: set[str] = set()
    latest = newest_accepted()
    batch: list[tuple[str, int, EventValues]] = []
    for path in paths:
        for name, line, record in read_event_records(Path(path)):
            report.rows += 1
            if isinstance(record, RowError):
                report.rejected.append(record)
                continue
            checked = event_values_or_errors(record, latest)
            if isinstance(checked, list):
                report.rejected += [RowError(name, line, f, reason) for f, reason in checked]
                continue
            batch.append((name, line, checked))
            if len(batch) >= size:
                _write(store, batch, known_items, ids, report)
                batch = []
    if batch:
        _write(store, batch, known_items, ids, report)
    report.rejected.sort(key=lambda e: (e.file, e.line))
    return report


def _write(
    store: Store,
    batch: list[tuple[str, int, EventValues]],
    known_items: set[str],
    ids: ClientIds | None,
    report: EventIngestReport,
) -> None:
    """Store one batch: rows about unknown items become rejections, the rest one transaction."""
    wanted = {values.item_id for _, _, values in batch} - known_items
    known_items |= store.live_item_ids(wanted) if wanted else set()
    keep: list[EventValues] = []
    for name, line, values in batch:
        if values.item_id not in known_items:
            report.rejected.append(RowError(name, line, "item_id", f"unknown item {values.item_id!r}"))
        elif ids is not None and ids.hashed:
            user, session = _stored_or_none(ids, values.user_id), _stored_or_none(ids, values.session_id)
            keep.append(values._replace(user_id=user, session_id=session))
        else:
            keep.append(values)
    result = insert_event_values(store, keep)
    report.accepted += result.accepted
    report.duplicates += result.duplicates
    report.erased += result.erased


# ------------------------------------------------------------------ content_catalog/store/event_bulk.py
_COLUMNS = (*EventValues._fields, "received_at")
_COLUMN_LIST = ", ".join(_COLUMNS)
_STAGE = "kepu_event_stage"
_LOOKUP_CHUNK = 5_000  # ids per IN (...) look-up: far below SQLite's and PostgreSQL's bind limits
_SQLITE_BULK_CACHE = -131_072  # KiB: a 128 MB page cache while a batch updates the events indexes
_SQLITE_DEFAULT_CACHE = -2_000  # SQLite's default (2 MB), restored after the batch
_REACH_SQL = ", ".join(f"'{t}'" for t in REACH_TYPES)
_TAB = "\t"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def insert_event_values(self: Store, values: Sequence[EventValues]) -> AddEventsResult:
    """Store validated events in one transaction (see the module docstring for the rules)."""
    first: dict[str, EventValues] = {}
    for value in values:
        first.setdefault(value.event_id, value)  # the first occurrence wins, batch order is kept
    unique = list(first.values())
    if not unique:
        return AddEventsResult(accepted=0, duplicates=len(values))
    with self._write() as session:
        kept = _not_erased(self, session, unique)
        accepted = _stage_and_insert(self, session, kept) if kept else 0
    erased = len(unique) - len(kept)
    return AddEventsResult(accepted=accepted, duplicates=len(values) - accepted - erased, erased=erased)


def _not_erased(self: Store, session: Session, values: list[EventValues]) -> list[EventValues]:
    """The events whose subject was not erased after they happened (subjects locked shared first)."""
    if self.dialect != "postgresql" and session.scalar(select(ErasureRow.subject).limit(1)) is None:
        return values  # no tombstone, and SQLite serialises writers: nothing to hash or lock
    subjects = {_subject(v) for v in values}
    hashes = {subject: self.subject_hash(subject) for subject in subjects if subject}
    self._lock_subjects(session, hashes.values(), exclusive=False)
    erased = _erasures_among(session, list(hashes.values()))
    if not erased:
        return values
    refused_at = {subject: erased[h] for subject, h in hashes.items() if h in erased}

    def kept(value: EventValues) -> bool:
        when = refused_at.get(_subject(value) or "")
        return when is None or as_utc(value.timestamp) >= when

    return [v for v in values if kept(v)]


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
def _stage_and_insert(self: Store, session: Session, values: list[EventValues]) -> int:
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
    if moment.tzinfo is UTC:  # the validators' output: skip the conversion (a third of this cost)
        return moment.isoformat(" ", "microseconds")[:26]
    return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_insert(cursor: Any, values: list[EventValues], now: datetime) -> tuple[list[str], int]:
    """executemany straight into `events` (BEGIN IMMEDIATE holds the only write lock, so rows with ids
    above the previous maximum are exactly this call's new rows: their days are read back from them)."""
    received = _sqlite_text(now)
    cursor.execute("SELECT coalesce(max(id), 0) FROM events")
    (before,) = cursor.fetchone()
    cursor.execute(f"PRAGMA cache_size = {_SQLITE_BULK_CACHE}")
    try:
        cursor.executemany(
            f"INSERT INTO events ({_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (event_id) DO NOTHING",
            [(*v[:5], _sqlite_text(v.timestamp), *v[6:], received) for v in values],
        )
        accepted = cursor.rowcount
    finally:
        cursor.execute(f"PRAGMA cache_size = {_SQLITE_DEFAULT_CACHE}")
    cursor.execute(
        f"SELECT DISTINCT substr(timestamp, 1, 10) FROM events WHERE id > ? AND type IN ({_REACH_SQL})", (before,)
    )
    return [row[0] for row in cursor.fetchall()], accepted


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
