"""What migration 0003 added, on SQLite and PostgreSQL: feed snapshots with expiry, per-store shared
secrets, and experiment variant params (with exactly one audit row per experiment upsert)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from content_catalog.store import Store
from recommender.cursor import StoreSnapshotCache
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

PAYLOAD = {"ranked": ["a", "b"], "context": {"a": "seniors", "t": []}, "details": {"a": [0.5, "为老年朋友精选"]}}


class ManualClock:
    """A clock the test moves by hand: expiry is decided by the test, never by how fast the machine is."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(name="clock")
def clock_fixture() -> ManualClock:
    return ManualClock(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))


@pytest.fixture(name="clocked")
def clocked_fixture(store_url: str, clock: ManualClock) -> Iterator[Store]:
    """A store whose notion of 'now' is `clock`."""
    with Store(store_url, clock=clock) as opened:
        yield opened


def test_snapshot_round_trip_replace_and_expiry(clocked: Store, clock: ManualClock) -> None:
    store = clocked
    store.save_snapshot("s1", PAYLOAD, ttl_seconds=60)
    assert store.load_snapshot("s1") == PAYLOAD
    store.save_snapshot("s1", {"ranked": ["c"]}, ttl_seconds=60)  # same id: replaced, not duplicated
    assert store.load_snapshot("s1") == {"ranked": ["c"]}
    assert store.load_snapshot("missing") is None

    store.save_snapshot("short", PAYLOAD, ttl_seconds=0.001)
    assert store.load_snapshot("short") == PAYLOAD  # the clock has not moved: still valid
    clock.advance(0.001)
    assert store.load_snapshot("short") is None  # expired rows are invisible before any purge
    assert store.load_snapshot("s1") == {"ranked": ["c"]}
    assert store.purge_snapshots() == 1
    assert store.purge_snapshots(before=clock.now + timedelta(hours=2)) == 1  # s1 (expires in 60 s)
    assert store.load_snapshot("s1") is None


def test_trim_keeps_only_the_newest_snapshots(clocked: Store, clock: ManualClock) -> None:
    for n in range(7):
        clocked.save_snapshot(f"s{n}", {"ranked": [str(n)]}, ttl_seconds=3_600)
        clock.advance(1)
    assert clocked.count_snapshots() == 7
    assert clocked.trim_snapshots(keep=3) == 4
    assert clocked.count_snapshots() == 3
    assert [n for n in range(7) if clocked.load_snapshot(f"s{n}") is not None] == [4, 5, 6]
    assert clocked.trim_snapshots(keep=3) == 0
    with pytest.raises(ValueError, match="keep"):
        clocked.trim_snapshots(keep=-1)


def test_cache_housekeeping_runs_in_the_background_and_bounds_the_table(clocked: Store, clock: ManualClock) -> None:
    jobs: list[Callable[[], None]] = []
    ticks = [0.0]
    cache = StoreSnapshotCache(
        clocked,
        ttl_seconds=60,
        purge_interval_seconds=600,
        max_stored=20,
        monotonic=lambda: ticks[0],
        run_in_background=jobs.append,
    )
    for n in range(25):
        cache.save(f"s{n}", {"ranked": [str(n)]})
        clock.advance(1)
    # after 2 saves (max_stored // 10) housekeeping was handed to the background, not run inline;
    # while that job is pending no second one is started
    assert len(jobs) == 1 and clocked.count_snapshots() == 25
    jobs.pop()()
    assert clocked.count_snapshots() == 20
    clock.advance(120)  # everything expires
    ticks[0] = 601.0  # and the purge interval has passed
    cache.save("fresh", {"ranked": ["f"]})
    assert len(jobs) == 1
    jobs.pop()()
    assert clocked.count_snapshots() == 1 and cache.load("fresh") == {"ranked": ["f"]}


def test_cache_housekeeping_failure_is_logged_not_raised(clocked: Store, caplog: pytest.LogCaptureFixture) -> None:
    jobs: list[Callable[[], None]] = []
    cache = StoreSnapshotCache(clocked, ttl_seconds=60, max_stored=1, run_in_background=jobs.append)
    cache.save("s", {"ranked": []})
    clocked.close()
    broken = Store.__new__(Store)  # a store whose every call fails, as during an outage
    cache.store = broken
    jobs.pop()()
    assert "snapshot housekeeping failed" in caplog.text


def test_snapshot_validation(store: Store) -> None:
    with pytest.raises(ValueError, match="snapshot_id"):
        store.save_snapshot("", PAYLOAD, ttl_seconds=60)
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.save_snapshot("s", PAYLOAD, ttl_seconds=0)
    with pytest.raises(ValueError, match="payload"):
        store.save_snapshot("s", ["not", "an", "object"], ttl_seconds=60)  # type: ignore[arg-type]


def test_shared_secret_is_created_once_even_under_concurrency(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            secrets = list(pool.map(lambda s: s.shared_secret("cursor_secret"), stores))
        assert len(set(secrets)) == 1 and len(secrets[0]) >= 40
        assert stores[0].shared_secret("other") != secrets[0]
    finally:
        for opened in stores:
            opened.close()


def test_experiment_params_are_stored_validated_and_audited_once(store: Store) -> None:
    params = {"diverse": {"mmr_lambda": 0.3}, "control": {}}
    created = store.upsert_experiment("div", {"control": 1, "diverse": 1}, params=params, actor="admin:k1")
    assert created.params == params
    assert store.list_experiments()[0].params == params

    kept = store.upsert_experiment("div", {"control": 3, "diverse": 1}, actor="admin:k1")  # params=None keeps
    assert kept.params == params and kept.variants == {"control": 0.75, "diverse": 0.25}
    dropped = store.upsert_experiment("div", {"control": 1}, actor="admin:k1")  # only variants that remain
    assert dropped.params == {"control": {}}
    cleared = store.upsert_experiment("div", {"control": 1}, params={}, actor="admin:k1")
    assert cleared.params == {}

    with pytest.raises(ValueError, match=r"params: unknown variant\(s\) \['b'\]"):
        store.upsert_experiment("div", {"a": 1}, params={"b": {"mmr_lambda": 0.1}})
    with pytest.raises(ValueError, match=r"params\.a: expected an object"):
        store.upsert_experiment("div", {"a": 1}, params={"a": 0.1})  # type: ignore[dict-item]

    entries = store.audit_log(target="experiment:div")
    assert [e.action for e in entries] == ["experiments.upsert"] * 4  # the failed calls wrote nothing
    assert entries[-1].payload["params"] == params and entries[-1].actor == "admin:k1"
