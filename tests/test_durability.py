"""No acknowledged event lost, none doubled: concurrent clients with duplicates and replays against a real
uvicorn process that is SIGKILLed mid-run and restarted, on SQLite and PostgreSQL (reduced CI size of
bench/durability.py). Also pins the SQLite durability setting the docs promise (synchronous=FULL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from content_catalog.store import Store
from tests.durability_drill import run_drill
from tests.store_fixtures import PostgresDatabases, pg_databases_fixture  # noqa: F401
from tests.test_api_support import catalog_items


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def drill_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(backend, URL) of a fresh store holding the test catalog."""
    databases: PostgresDatabases | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'drill.db').as_posix()}"
    else:
        databases = request.getfixturevalue("pg_databases")
        url = databases.create(migrated=True).render_as_string(hide_password=False)
    store = Store(url)
    store.upsert_items(catalog_items(), actor="test")
    store.close()
    yield request.param, url
    if databases is not None:
        databases.drop(make_url(url))


def test_no_acknowledged_event_lost_or_doubled_across_sigkill(drill_store: tuple[str, str], tmp_path: Path) -> None:
    backend, url = drill_store
    result = run_drill(url, tmp_path / "drill", backend=backend, clients=4, batches_per_client=15, batch_size=10)
    print(result.as_row())
    assert result.kills == 1 and result.failed_posts >= 1, "the kill must hit the run while clients post"
    assert result.lost == [], f"acknowledged but not stored: {result.lost[:10]}"
    assert result.doubled == 0
    assert result.unacknowledged_stored == []
    assert result.acknowledged == result.stored == result.events_sent


def test_sqlite_commits_are_durable_on_power_loss(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: every commit is fsynced before the write returns (NORMAL could lose the
    last commits on power loss, which would break the promise above for acknowledged events)."""
    store = Store(f"sqlite:///{(tmp_path / 'k.db').as_posix()}")
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        store.close()
