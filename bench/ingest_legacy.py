"""The event write path before issue 8 (ORM `insertmanyvalues` with RETURNING, one tombstone filter),
kept verbatim for `bench/ingest.py` to measure as its baseline in the same run, in process and behind
uvicorn (`python bench/ingest_legacy.py --serve PORT` patches it in, then runs the app)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def patch() -> None:
    """Make every Store in this process use the legacy write path."""
    Store.add_events = legacy_add_events  # type: ignore[method-assign]


if __name__ == "__main__":
    import uvicorn

    if sys.argv[1:2] != ["--serve"] or len(sys.argv) != 3:
        raise SystemExit("usage: python bench/ingest_legacy.py --serve PORT")
    patch()
    uvicorn.run("api.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
