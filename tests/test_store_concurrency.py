"""Concurrent writers on SQLite (WAL + BEGIN IMMEDIATE + busy timeout) and PostgreSQL: nothing is lost,
nothing fails with "database is locked", replays stay idempotent and one model stays active."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from content_catalog.schema import User
from content_catalog.store import Store
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

WRITERS = 4
BATCHES = 5
PER_BATCH = 20


def test_concurrent_writers_lose_nothing(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(WRITERS)]  # separate engines, like separate processes

    def write(writer: int) -> int:
        store = stores[writer]
        accepted = 0
        for batch in range(BATCHES):
            events = [make_event(f"w{writer}-b{batch}-{n}", minutes=n) for n in range(PER_BATCH)]
            # Every batch is sent twice, interleaved with the other writers (client retries).
            accepted += store.add_events(events).accepted
            accepted += store.add_events(events).accepted
            # Every writer also creates the same shared items and user at the same time.
            store.upsert_items([make_item(f"w{writer}-i{batch}"), make_item(f"shared-{batch}", title=f"w{writer}")])
            store.upsert_user(User(id=f"shared-user-{batch}", sessions=[f"s-{writer}-{batch}"]))
        return accepted

    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            accepted = sum(pool.map(write, range(WRITERS)))
        assert accepted == WRITERS * BATCHES * PER_BATCH
        assert stores[0].count_events() == accepted
        assert stores[0].count_items() == WRITERS * BATCHES + BATCHES
        user = stores[0].get_user("shared-user-0")
        assert user is not None and len(user.sessions) == WRITERS
    finally:
        for store in stores:
            store.close()


def test_concurrent_activations_leave_exactly_one_active(store: Store) -> None:
    versions = [f"v{n}" for n in range(6)]
    for version in versions:
        store.add_model_version(version, f"/m/{version}")
    others = [Store(store.url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda n: others[n % 3].activate_model_version(versions[n]), range(len(versions))))
        assert len([m for m in store.list_model_versions() if m.active]) == 1
    finally:
        for other in others:
            other.close()
