"""Cursors across processes: two `RecommendationService` objects, each with its own `Store` connection
(as two uvicorn workers would have), page through one feed alternately without a repeat — on a shared
SQLite file and on PostgreSQL. Also: a retried cursor returns the same page, and expiry still applies."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pytest

from content_catalog.schema import Event, Item
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.cursor import CursorError, CursorExpired, MemorySnapshotCache
from recommender.service import RecommendationRequest, RecommendationService, ServiceSettings
from recommender.write_behind import WriteBehindSnapshotCache
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_url_fixture,
)
from tests.test_service_support import ENCODER_DIM, demo_encoder, demo_items

N_ITEMS = 120  # enough for several extensions of a small snapshot, small enough for PostgreSQL inserts
SETTINGS = ServiceSettings(snapshot_depth=15, pool_per_source=30)


@lru_cache(maxsize=1)
def _items() -> tuple[Item, ...]:
    return tuple(sorted(demo_items(), key=lambda it: it.id)[:N_ITEMS])


def _service(store: Store, settings: ServiceSettings = SETTINGS) -> RecommendationService:
    """A service as a fresh worker builds it: no model yet (content, freshness, rules), own index."""
    encoder = demo_encoder()
    index = VectorIndex(ENCODER_DIM)
    index.add([it.id for it in _items()], encoder.encode([it.text for it in _items()]))
    return RecommendationService(store, None, encoder, index, settings=settings)


@pytest.fixture(name="two_workers")
def two_workers_fixture(store_url: str) -> Iterator[tuple[Store, RecommendationService, RecommendationService]]:
    first, second = Store(store_url), Store(store_url)
    try:
        first.upsert_items(list(_items()))
        yield first, _service(first), _service(second)
    finally:
        first.close()
        second.close()


def ids(response: object) -> list[str]:
    return [card.id for card in response.items]  # type: ignore[attr-defined]


def test_workers_share_cursors_and_pages_never_repeat(two_workers: tuple) -> None:
    store, worker_a, worker_b = two_workers
    assert isinstance(worker_a.snapshots, WriteBehindSnapshotCache)
    request = RecommendationRequest(session_id="pager", audience="public", k=7)
    page = worker_a.recommend(request)
    served = ids(page)
    store.add_events(
        [Event(event_id="read-1", session_id="pager", item_id=served[0], type="view", timestamp=datetime.now(UTC))]
    )
    workers = [worker_b, worker_a]
    n_pages = 1
    while page.next_cursor and n_pages < 60:
        page = workers[n_pages % 2].recommend(request.model_copy(update={"cursor": page.next_cursor}))
        served += ids(page)
        n_pages += 1
    assert page.next_cursor is None, "the feed should end once the catalog is exhausted"
    assert len(served) == len(set(served)), "a page repeated an item"
    assert len(served) > 3 * SETTINGS.snapshot_depth  # the feed outgrew its first snapshots several times


def test_retried_cursor_returns_the_same_page_on_either_worker(two_workers: tuple) -> None:
    _, worker_a, worker_b = two_workers
    request = RecommendationRequest(audience="seniors", k=5)
    cursor = worker_a.recommend(request).next_cursor
    assert cursor
    again = request.model_copy(update={"cursor": cursor})
    from_a, from_b = worker_a.recommend(again), worker_b.recommend(again)
    assert ids(from_a) == ids(from_b) and from_a.next_cursor == from_b.next_cursor
    # reasons are picked when a card is served, from parts kept in the snapshot (memory on A, JSON on B)
    assert [c.reason for c in from_a.items] == [c.reason for c in from_b.items] and all(c.reason for c in from_b.items)
    with pytest.raises(CursorError, match="different request"):
        worker_b.recommend(again.model_copy(update={"audience": "youth"}))


def test_foreign_secret_and_expiry_still_refuse(two_workers: tuple) -> None:
    store, worker_a, _ = two_workers
    request = RecommendationRequest(audience="farmers", k=3)
    cursor = worker_a.recommend(request).next_cursor
    other_deployment = _service(store, dataclasses.replace(SETTINGS, cursor_secret="explicit-secret"))
    with pytest.raises(CursorError, match="signature"):
        other_deployment.recommend(request.model_copy(update={"cursor": cursor}))

    now = [datetime.now(UTC)]
    store.clock = lambda: now[0]  # the test moves time: expiry never depends on how fast the machine is
    short = _service(store, dataclasses.replace(SETTINGS, snapshot_ttl_seconds=60))
    expiring = short.recommend(request).next_cursor
    assert short.recommend(request.model_copy(update={"cursor": expiring})).items is not None
    now[0] += timedelta(seconds=60)
    with pytest.raises(CursorExpired):
        short.recommend(request.model_copy(update={"cursor": expiring}))


def test_without_a_store_snapshots_stay_in_process(two_workers: tuple) -> None:
    store, _, _ = two_workers
    local = RecommendationService(
        store, None, demo_encoder(), _service(store).index, settings=SETTINGS, snapshots=MemorySnapshotCache()
    )
    request = RecommendationRequest(audience="public", k=4)
    first = local.recommend(request)
    second = local.recommend(request.model_copy(update={"cursor": first.next_cursor}))
    assert second.items and not set(ids(first)) & set(ids(second))
    assert store.purge_snapshots(before=datetime.now(UTC) + timedelta(days=365)) == 0  # none in the store


def test_a_cursor_pages_on_another_worker_before_its_snapshot_is_written(two_workers: tuple) -> None:
    """Write-behind: worker A answers without writing; worker B, handed A's cursor before A's writer ran,
    waits for it (here: A's writer runs during B's wait) and pages on without a repeat."""
    store, _, _ = two_workers
    second = Store(store.url)
    try:
        waits: list[str] = []
        SLOW = {"flush_wait_seconds": 600.0, "poll_seconds": 1.0}  # however slow the machine, still "recent"
        caches: dict[str, WriteBehindSnapshotCache] = {}

        def other_writes_meanwhile(me: str) -> Callable[[float], None]:
            def wait(_seconds: float) -> None:  # while one worker waits, the other worker's writer runs
                waits.append(me)
                caches["b" if me == "a" else "a"].flush()

            return wait

        caches["a"] = cache_a = WriteBehindSnapshotCache(
            store, background=False, wait=other_writes_meanwhile("a"), **SLOW
        )
        caches["b"] = cache_b = WriteBehindSnapshotCache(
            second, background=False, wait=other_writes_meanwhile("b"), **SLOW
        )
        worker_a = RecommendationService(
            store, None, demo_encoder(), _service(store).index, settings=SETTINGS, snapshots=cache_a
        )
        worker_b = RecommendationService(
            second, None, demo_encoder(), worker_a.index, settings=SETTINGS, snapshots=cache_b
        )
        request = RecommendationRequest(session_id="write-behind", audience="public", k=6)
        page = worker_a.recommend(request)
        assert page.next_cursor and store.count_snapshots() == 0  # no write on A's request path
        served, n_pages, workers = ids(page), 1, [worker_b, worker_a]
        while page.next_cursor and n_pages < 12:
            page = workers[n_pages % 2].recommend(request.model_copy(update={"cursor": page.next_cursor}))
            served += ids(page)
            n_pages += 1
        assert len(served) == len(set(served)) and len(served) > SETTINGS.snapshot_depth
        assert waits[0] == "b"  # B did find A's first snapshot missing and waited for it
    finally:
        second.close()
