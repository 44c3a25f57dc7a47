"""Event batches (≤ 1000): idempotent on the client's event_id.

Policy (documented in docs/api.md): each event is validated on its own. Valid events are stored in
one transaction; invalid ones are NOT stored and are listed in `rejected` with their index in the
batch, the field and the reason. A replayed event_id counts as a duplicate, not an error. A body
that is not an `{"events": [...]}` object of 1..1000 entries is refused as a whole (422).
Why not all-or-nothing: events are telemetry that browsers retry; one stale item id must not make
a client's whole batch fail forever. Events of a user or session erased after they happened (a late
or retried batch) are counted in `erased` and not stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from api.deps import ClientIdsDep, EventWriter, MetricsDep, StoreDep
from api.errors import dotted_location
from api.schemas import EventsIn, EventsOut, RejectedEvent
from content_catalog.event_validation import fast_event_tuple, time_bounds
from content_catalog.pseudonyms import ClientIds
from content_catalog.schema import Event
from content_catalog.store.event_bulk import EventTuple, event_tuple, event_values

router = APIRouter(prefix="/v1", tags=["events"])


def validate_events(raw: list[dict[str, Any]]) -> tuple[list[EventTuple], list[RejectedEvent]]:
    """Split a batch into valid rows and rejections naming `index` + `field` (first error per event).

    Canonically spelled events skip pydantic (`fast_event_tuple`, same verdicts); the rest, and so
    every rejection, go through the `Event` schema."""
    valid: list[EventTuple] = []
    rejected: list[RejectedEvent] = []
    bounds = time_bounds()
    for index, record in enumerate(raw):
        fast = fast_event_tuple(record, bounds) if isinstance(record, dict) else None
        if fast is not None:
            valid.append(fast)
            continue
        try:
            valid.append(event_tuple(event_values(Event.model_validate(record))))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = dotted_location(err["loc"]) or "-"
            message = "unknown field (not allowed)" if err["type"] == "extra_forbidden" else err["msg"]
            rejected.append(RejectedEvent(index=index, field=field, message=message))
    return valid, rejected


def unknown_items(store: Any, events: list[EventTuple]) -> set[str]:
    """Item ids the catalog does not know (events about them are rejected)."""
    wanted = {e[3] for e in events}
    return wanted - store.live_item_ids(wanted)


@router.post("/events", response_model=EventsOut, summary="Record a batch of interaction events")
def post_events(body: EventsIn, _: EventWriter, store: StoreDep, metrics: MetricsDep, ids: ClientIdsDep) -> EventsOut:
    valid, rejected = validate_events(body.events)
    bad = {r.index for r in rejected}
    indexes = [i for i in range(len(body.events)) if i not in bad]
    missing = unknown_items(store, valid) if valid else set()
    keep: list[EventTuple] = []
    for index, event in zip(indexes, valid, strict=True):
        if event[3] in missing:
            rejected.append(RejectedEvent(index=index, field="item_id", message=f"unknown item {event[3]!r}"))
        else:
            keep.append(stored_ids(event, ids))
    rejected.sort(key=lambda r: r.index)
    result = store.insert_event_tuples(keep) if keep else None
    accepted = result.accepted if result else 0
    duplicates = result.duplicates if result else 0
    erased = result.erased if result else 0
    metrics.events_ingested.labels(outcome="accepted").inc(accepted)
    metrics.events_ingested.labels(outcome="duplicate").inc(duplicates)
    metrics.events_ingested.labels(outcome="rejected").inc(len(rejected))
    metrics.events_ingested.labels(outcome="erased").inc(erased)
    return EventsOut(accepted=accepted, duplicates=duplicates, erased=erased, rejected=rejected)


def stored_ids(event: EventTuple, ids: ClientIds) -> EventTuple:
    """The event with the user and session ids the store keeps (keyed hashes when a pepper is set)."""
    if not ids.hashed:
        return event
    return (event[0], ids.stored_or_none(event[1]), ids.stored_or_none(event[2]), *event[3:])  # type: ignore[return-value]
