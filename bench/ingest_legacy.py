"""The event write path before issue 8 (ORM `insertmanyvalues` with RETURNING, one tombstone filter),
kept verbatim for `bench/ingest.py` to measure as its baseline in the same run, in process and behind
uvicorn (`python bench/ingest_legacy.py --serve PORT` patches it in, then runs the app)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import ValidationError
from sqlalchemy.orm import Session

from content_catalog.schema import Event
from content_catalog.store import Store
from content_catalog.store.models import EventRow
from content_catalog.store.records import AddEventsResult
from content_catalog.store.stats_rollup import REACH_TYPES, day_of, mark_days_dirty
from content_catalog.store.subjects import session_subject
from content_catalog.store.types import as_utc, utc_now


def legacy_add_events(self: Store, events: Sequence[Event]) -> AddEventsResult:
    """`Store.add_events` as of commit 6be037f."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    now = utc_now()
    rows = [
        {
            "event_id": e.event_id,
            "user_id": e.user_id,
            "session_id": e.session_id,
            "item_id": e.item_id,
            "type": e.type.value,
            "timestamp": e.timestamp,
            "dwell_seconds": e.dwell_seconds,
            "channel": e.channel,
            "experiment": e.experiment,
            "position": e.position,
            "received_at": now,
        }
        for e in unique.values()
    ]
    if not rows:
        return AddEventsResult(accepted=0, duplicates=len(events))
    statement = (
        self._insert(EventRow.__table__)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EventRow.__table__.c.event_id)
    )
    with self._write() as session:
        kept = _without_erased(self, session, rows)
        accepted_ids = {r[0] for r in session.connection().execute(statement, kept)} if kept else set()
        days = (day_of(r["timestamp"]) for r in kept if r["event_id"] in accepted_ids and r["type"] in REACH_TYPES)
        mark_days_dirty(session, self.dialect, days)
        accepted = len(accepted_ids)
    erased = len(rows) - len(kept)
    return AddEventsResult(accepted=accepted, duplicates=len(events) - accepted - erased, erased=erased)


def _without_erased(self: Store, session: Session, rows: list[dict]) -> list[dict]:
    subjects = {row["user_id"] for row in rows if row["user_id"]}
    subjects |= {session_subject(row["session_id"]) for row in rows if row["session_id"] and not row["user_id"]}
    hashes = {subject: self.subject_hash(subject) for subject in subjects}
    self._lock_subjects(session, hashes.values(), exclusive=False)
    erased = self._erasure_times(session, hashes.values())
    if not erased:
        return rows

    def refused(subject: str | None, at: datetime) -> bool:
        when = erased.get(hashes[subject]) if subject else None
        return when is not None and as_utc(at) < when

    def subject(row: dict) -> str | None:
        if row["user_id"]:
            return row["user_id"]
        return session_subject(row["session_id"]) if row["session_id"] else None

    return [row for row in rows if not refused(subject(row), row["timestamp"])]


class _Row(tuple):  # type: ignore[type-arg]
    """An `Event` as today's router handles it (indexed like an `EventTuple`: [3] is the item id)."""

    event: Event

    @classmethod
    def of(cls, event: Event) -> _Row:
        row = cls((event.event_id, event.user_id, event.session_id, event.item_id))
        row.event = event
        return row


def _router_write(self: Store, rows: Sequence[_Row]) -> AddEventsResult:
    """The router's write call fed to the legacy `add_events`."""
    return legacy_add_events(self, [row.event for row in rows])


def _router_validate(raw: list[dict[str, Any]]) -> tuple[list[_Row], list[Any]]:
    valid, rejected = legacy_validate_events(raw)
    return [_Row.of(event) for event in valid], rejected


def _router_unknown_items(store: Any, rows: list[_Row]) -> set[str]:
    return legacy_unknown_items(store, [row.event for row in rows])


def _router_stored_ids(row: _Row, ids: Any) -> _Row:
    return _Row.of(_legacy_stored_ids(row.event, ids))


def legacy_validate_events(raw: list[dict[str, Any]]) -> tuple[list[Event], list[Any]]:
    """`api.routers.events.validate_events` as of commit 6be037f (pydantic for every event)."""
    from api.errors import dotted_location
    from api.schemas import RejectedEvent

    valid: list[Event] = []
    rejected: list[RejectedEvent] = []
    for index, record in enumerate(raw):
        try:
            valid.append(Event.model_validate(record))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = dotted_location(err["loc"]) or "-"
            message = "unknown field (not allowed)" if err["type"] == "extra_forbidden" else err["msg"]
            rejected.append(RejectedEvent(index=index, field=field, message=message))
    return valid, rejected


def legacy_unknown_items(store: Any, events: list[Event]) -> set[str]:
    """`api.routers.events.unknown_items` as of commit 6be037f (loads the full items)."""
    wanted = sorted({e.item_id for e in events})
    known = {item.id for item in store.get_items(wanted)}
    return set(wanted) - known


def _legacy_stored_ids(event: Event, ids: Any) -> Event:
    if not ids.hashed:
        return event
    update = {"user_id": ids.stored_or_none(event.user_id), "session_id": ids.stored_or_none(event.session_id)}
    return event.model_copy(update=update)


def patch() -> None:
    """Make every Store and the events router in this process use the legacy path."""
    from api.routers import events as router

    Store.add_events = legacy_add_events  # type: ignore[method-assign]
    Store.insert_event_tuples = _router_write  # type: ignore[assignment]  # the router's write call
    router.validate_events = _router_validate  # type: ignore[assignment]
    router.unknown_items = _router_unknown_items  # type: ignore[assignment]
    router.stored_ids = _router_stored_ids  # type: ignore[assignment]


if __name__ == "__main__":
    import uvicorn

    if sys.argv[1:2] != ["--serve"] or len(sys.argv) != 3:
        raise SystemExit("usage: python bench/ingest_legacy.py --serve PORT")
    patch()
    uvicorn.run("api.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
