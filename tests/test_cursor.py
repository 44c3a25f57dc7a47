"""Signed cursors, the snapshot caches (in-memory LRU and store-backed) and the pager joining them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_catalog.store import Store
from recommender.cursor import (
    CursorCodec,
    CursorError,
    CursorExpired,
    MemorySnapshotCache,
    Pager,
    Position,
    Snapshot,
    StoreSnapshotCache,
)


def test_round_trip_and_tamper_detection() -> None:
    codec = CursorCodec("secret")
    token = codec.encode({"s": "abc", "o": 10})
    assert codec.decode(token) == {"s": "abc", "o": 10}
    body, sig = token.split(".")
    forged = CursorCodec("other").encode({"s": "abc", "o": 20}).split(".")[0] + "." + sig
    for bad in (forged, body + "." + sig[:-1] + ("A" if sig[-1] != "A" else "B"), "garbage", "a.b.c", ""):
        with pytest.raises(CursorError):
            codec.decode(bad)
    assert isinstance(CursorError("x"), ValueError)
    with pytest.raises(CursorError, match="signature"):
        CursorCodec("other").decode(token)


def test_memory_cache_lru_and_expiry() -> None:
    cache = MemorySnapshotCache(max_entries=2, ttl_seconds=60)
    for i in range(3):
        cache.save(f"k{i}", {"n": i})
    assert cache.load("k0") is None  # evicted: least recently used
    assert cache.load("k1") == {"n": 1}
    cache.save("k3", {"n": 3})  # k2 is now the least recently used
    assert cache.load("k2") is None and cache.load("k1") == {"n": 1}
    assert len(cache) == 2
    ticks = [0.0]
    short = MemorySnapshotCache(ttl_seconds=0.05, monotonic=lambda: ticks[0])
    short.save("k", {"n": 1})
    ticks[0] = 0.049
    assert short.load("k") == {"n": 1}
    ticks[0] = 0.05
    assert short.load("k") is None
    with pytest.raises(ValueError):
        MemorySnapshotCache(max_entries=0)


def test_snapshot_payload_round_trip_and_bad_payload() -> None:
    snapshot = Snapshot(
        ranked=["b", "c"], context={"a": "youth"}, served=["a"], details={"b": (0.5, "热门"), "c": (0.25, None)}
    )
    assert Snapshot.from_payload(snapshot.to_payload()) == snapshot
    with pytest.raises(CursorError, match="unreadable"):
        Snapshot.from_payload({"ranked": ["a"]})


def _snapshot() -> Snapshot:
    return Snapshot(ranked=["x", "y"], context={"c": "web"}, details={"x": (1.0, None), "y": (0.5, "本周热门")})


def test_pager_issues_cursors_another_pager_on_the_same_store_can_open(tmp_path: Path) -> None:
    with Store(f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}") as store:
        secret = store.shared_secret("cursor_secret")
        first = Pager(StoreSnapshotCache(store, ttl_seconds=60), CursorCodec(secret))
        other = Pager(StoreSnapshotCache(store, ttl_seconds=60), CursorCodec(store.shared_secret("cursor_secret")))
        snapshot_id = first.save(_snapshot())
        cursor = first.cursor(Position(snapshot_id, 1))
        opened, position = other.open(cursor)
        assert opened == _snapshot() and position == Position(snapshot_id, 1)

        stranger = Pager(StoreSnapshotCache(store, ttl_seconds=60), CursorCodec("another deployment"))
        with pytest.raises(CursorError, match="signature"):
            stranger.open(cursor)
        with pytest.raises(CursorExpired):
            other.open(first.cursor(Position("never-saved", 0)))
        with pytest.raises(CursorError, match="malformed"):
            other.open(CursorCodec(secret).encode({"s": snapshot_id, "o": -1}))


def test_store_cache_expires_and_purges(tmp_path: Path) -> None:
    now = [datetime(2025, 3, 1, tzinfo=UTC)]
    ticks = [0.0]
    with Store(f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}", clock=lambda: now[0]) as store:
        cache = StoreSnapshotCache(
            store, ttl_seconds=0.2, purge_interval_seconds=0.1, monotonic=lambda: ticks[0], run_in_background=_run_now
        )
        pager = Pager(cache, CursorCodec("s"))
        cursor = pager.cursor(Position(pager.save(_snapshot()), 0))
        assert pager.open(cursor)[0].ranked == ["x", "y"]
        now[0] += timedelta(seconds=0.25)
        ticks[0] += 0.25
        with pytest.raises(CursorExpired):
            pager.open(cursor)
        pager.save(_snapshot())  # the first save after the purge interval deletes the expired row
        assert store.purge_snapshots() == 0
        assert store.count_snapshots() == 1
        assert store.load_snapshot("nothing") is None


def _run_now(job: Callable[[], None]) -> None:
    job()
