"""Write-behind feed snapshots (`recommender.write_behind`): no store write on the request path, yet a
cursor issued by one worker opens on another — also before the issuing worker has flushed it — and
erasure, expiry and the table's bound still hold. Two caches on two connections to one SQLite file
stand for two workers; flushing is explicit (`background=False`) and time is a manual clock, so every
interleaving is chosen by the test, never by thread timing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_catalog.schema import User
from content_catalog.store import Store
from recommender.cursor import CursorCodec, CursorExpired, Pager, Position, Snapshot, SnapshotNotSaved
from recommender.write_behind import WriteBehindSnapshotCache, issued_at

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    """Store time the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="stores")
def stores_fixture(tmp_path: Path) -> Iterator[tuple[Store, Store, Clock]]:
    clock = Clock()
    url = f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}"
    with Store(url, clock=clock) as first, Store(url, clock=clock) as second:
        yield first, second, clock


def _snapshot(owner: str | None = None) -> Snapshot:
    return Snapshot(ranked=["x", "y", "z"], context={"u": owner, "c": "web"}, details={"x": (1.0, "猜你喜欢")})


def _pager(cache: WriteBehindSnapshotCache, store: Store) -> Pager:
    return Pager(cache, CursorCodec(store.shared_secret("cursor_secret")))


def test_save_writes_nothing_until_flushed_and_serves_its_own_pages_from_memory(stores: tuple) -> None:
    store, _, _ = stores
    cache = WriteBehindSnapshotCache(store, ttl_seconds=60, background=False)
    pager = _pager(cache, store)
    snapshot_id = pager.save(_snapshot())
    assert store.count_snapshots() == 0 and cache.pending == 1  # nothing written on the request's thread
    assert issued_at(snapshot_id) == START.timestamp()
    assert pager.open(pager.cursor(Position(snapshot_id, 1)))[0] == _snapshot()
    assert cache.flush() == 1 and cache.pending == 0
    assert store.load_snapshot(snapshot_id) == _snapshot().to_payload()


def test_another_worker_waits_for_a_snapshot_still_being_written(stores: tuple) -> None:
    store_a, store_b, _ = stores
    issuer = WriteBehindSnapshotCache(store_a, ttl_seconds=60, background=False)
    waits: list[float] = []

    def issuer_writes_meanwhile(seconds: float) -> None:  # while worker B waits, worker A's writer runs
        waits.append(seconds)
        issuer.flush()

    reader = WriteBehindSnapshotCache(store_b, ttl_seconds=60, background=False, wait=issuer_writes_meanwhile)
    cursor = _pager(issuer, store_a).cursor(Position(_pager(issuer, store_a).save(_snapshot()), 2))
    opened, position = _pager(reader, store_b).open(cursor)
    assert opened == _snapshot() and position.offset == 2
    assert len(waits) == 1  # one poll: the row was there right after the issuer's flush


def test_a_snapshot_never_written_within_the_window_expires_the_cursor(stores: tuple) -> None:
    store_a, store_b, clock = stores
    issuer = WriteBehindSnapshotCache(store_a, ttl_seconds=60, background=False, flush_wait_seconds=1.0)
    waits: list[float] = []
    reader = WriteBehindSnapshotCache(
        store_b, ttl_seconds=60, background=False, flush_wait_seconds=1.0, poll_seconds=0.25, wait=waits.append
    )
    cursor = _pager(issuer, store_a).cursor(Position(_pager(issuer, store_a).save(_snapshot()), 0))
    with pytest.raises(CursorExpired):
        _pager(reader, store_b).open(cursor)
    assert waits == [0.25] * 4  # polled for the whole window, then gave up
    clock.now += timedelta(seconds=5)  # long after the window: a missing row is simply gone, no waiting
    with pytest.raises(CursorExpired):
        _pager(reader, store_b).open(cursor)
    assert len(waits) == 4


def test_erased_owner_is_never_written_and_its_memory_copy_ends(stores: tuple) -> None:
    store, _, clock = stores
    cache = WriteBehindSnapshotCache(store, ttl_seconds=60, background=False)
    pager = _pager(cache, store)
    store.upsert_user(User(id="u-1", audiences=["public"]))
    store.subject_hash("u-1")  # creates the erasure secret outside erase_user's transaction (as ingest does)
    kept, erased = pager.save(_snapshot("u-2")), pager.save(_snapshot("u-1"))
    clock.now += timedelta(seconds=1)
    store.erase_user("u-1", actor="admin")
    with pytest.raises(CursorExpired):  # the issuing worker's memory copy ends with the erasure
        pager.open(pager.cursor(Position(erased, 0)))
    assert cache.flush() == 1  # the pending copy is dropped by the store's erasure check
    assert store.load_snapshot(erased) is None and store.load_snapshot(kept) is not None


def test_memory_copy_expires_with_the_store_clock(stores: tuple) -> None:
    store, _, clock = stores
    cache = WriteBehindSnapshotCache(store, ttl_seconds=60, background=False, flush_wait_seconds=1.0)
    pager = _pager(cache, store)
    cursor = pager.cursor(Position(pager.save(_snapshot()), 0))
    cache.flush()
    clock.now += timedelta(seconds=60)
    with pytest.raises(CursorExpired):
        pager.open(cursor)


def test_queue_and_table_stay_bounded(stores: tuple) -> None:
    store, _, _ = stores
    cache = WriteBehindSnapshotCache(store, ttl_seconds=60, background=False, max_pending=3, max_stored=2)
    pager = _pager(cache, store)
    for _ in range(3):
        pager.save(_snapshot())
    with pytest.raises(SnapshotNotSaved):  # the store is not keeping up: no cursor rather than unbounded memory
        pager.save(_snapshot())
    assert cache.flush() == 3
    assert store.count_snapshots() == 2  # trimmed by the writer, after its batch


def test_background_writer_stores_the_queue(stores: tuple) -> None:
    store, _, _ = stores
    cache = WriteBehindSnapshotCache(store, ttl_seconds=60)
    snapshot_id = _pager(cache, store).save(_snapshot())
    assert cache.wait_idle(timeout=30)  # woken by the writer thread once the batch is committed
    assert store.load_snapshot(snapshot_id) is not None
