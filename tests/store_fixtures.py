"""Store fixtures for both backends: a new SQLite file per test and an emptied PostgreSQL database.

PostgreSQL comes from KEPU_TEST_POSTGRES_URL (started by `.ci/postgres.sh start`). Without it the
PostgreSQL variants skip with a reason locally, but FAIL when CI=true: CI must exercise PostgreSQL.
Store tests share one uniquely named, migrated PostgreSQL database per test session (dropped at the
end) with every table truncated before each test; migration tests get a brand-new empty database each.
Import the fixtures into a test module with
`from tests.store_fixtures import backend_fixture, pg_databases_fixture, store_fixture, ...  # noqa: F401`
(pytest finds fixtures by their `name=`, so these imports do not shadow the test parameters).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from content_catalog.schema import AudienceTag, Event, EventType, Item, TagSource
from content_catalog.store import Store
from content_catalog.store.engine import make_engine, upgrade
from content_catalog.store.models import Base

POSTGRES_ENV = "KEPU_TEST_POSTGRES_URL"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def postgres_admin_url() -> URL:
    """The server URL from the environment, or skip (locally) / fail (CI=true) when it is missing."""
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        message = f'{POSTGRES_ENV} is unset: start a server with `eval "$(bash .ci/postgres.sh start)"`'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL store tests are required in CI but {message}")
        pytest.skip(message)
    return make_url(raw)


class PostgresDatabases:
    """Creates and drops uniquely named databases on the test server (connects on first use)."""

    def __init__(self) -> None:
        self._admin: Engine | None = None
        self._base_url: URL | None = None

    def _engine(self) -> Engine:
        if self._admin is None:
            self._base_url = postgres_admin_url()
            self._admin = create_engine(self._base_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        return self._admin

    def create(self, *, migrated: bool) -> URL:
        """A new uniquely named database: empty, or migrated to head."""
        admin = self._engine()
        assert self._base_url is not None
        url = self._base_url.set(database=f"kepu_t_{uuid.uuid4().hex[:12]}")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
        if migrated:
            engine = make_engine(url.render_as_string(hide_password=False))
            upgrade(engine)
            engine.dispose()
        return url

    def drop(self, url: URL) -> None:
        with self._engine().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None


@pytest.fixture(params=BACKENDS, name="backend")
def backend_fixture(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgres' (PostgreSQL variants carry the `postgres` marker)."""
    return str(request.param)


class TruncatedDatabase:
    """One migrated PostgreSQL database per test session, emptied before each test.

    `CREATE DATABASE` costs 1-3 s on a busy machine; `TRUNCATE` of every table costs ~0.1 s
    and leaves each test the same empty store at the head schema. Created on first use, so modules
    whose PostgreSQL tests are skipped never connect.
    """

    def __init__(self, databases: PostgresDatabases) -> None:
        self._databases = databases
        self._url: URL | None = None
        self._engine: Engine | None = None
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        self._truncate = text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")

    def fresh(self) -> str:
        """Empty every table and return the database URL."""
        if self._url is None:
            self._url = self._databases.create(migrated=True)
            self._engine = create_engine(self._url)
        assert self._engine is not None
        with self._engine.begin() as connection:
            connection.execute(self._truncate)
        return self._url.render_as_string(hide_password=False)

    def close(self) -> None:
        """Drop the database (idempotent: every module's copy of the session fixture calls it)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._url is not None:
            self._databases.drop(self._url)
            self._url = None


# Process-wide, because each test module that imports the session fixtures gets its own copy of them
# and all copies must share one server connection and one database.
_POSTGRES = PostgresDatabases()
_SHARED = TruncatedDatabase(_POSTGRES)


@pytest.fixture(scope="session", name="pg_databases")
def pg_databases_fixture() -> Iterator[PostgresDatabases]:
    """Creates/drops PostgreSQL test databases; connects only when a PostgreSQL test runs."""
    yield _POSTGRES
    _SHARED.close()
    _POSTGRES.close()


@pytest.fixture(scope="session", name="pg_shared_database")
def pg_shared_database_fixture(pg_databases: PostgresDatabases) -> TruncatedDatabase:
    """The session's truncated PostgreSQL database (created when a postgres test first needs it)."""
    return _SHARED


@pytest.fixture(name="store_url")
def store_url_fixture(backend: str, tmp_path: Path, pg_shared_database: TruncatedDatabase) -> str:
    """URL of an empty store on the current backend: a new SQLite file, or the session's PostgreSQL
    database with every table truncated."""
    if backend == "sqlite":
        return f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}"
    return pg_shared_database.fresh()


@pytest.fixture(name="empty_url")
def empty_url_fixture(backend: str, tmp_path: Path, pg_databases: PostgresDatabases) -> Iterator[str]:
    """URL of a brand-new, completely empty database (no tables at all), for migration tests."""
    if backend == "sqlite":
        yield f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}"
        return
    url = pg_databases.create(migrated=False)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        pg_databases.drop(url)


@pytest.fixture(name="store")
def store_fixture(store_url: str) -> Iterator[Store]:
    """An open Store on a fresh database of the current backend."""
    opened = Store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def make_item(item_id: str, **fields: object) -> Item:
    """A valid item with sensible defaults; override any field."""
    data: dict[str, object] = {
        "id": item_id,
        "title": f"科普文章 {item_id}",
        "summary": "测试摘要",
        "topics": ["health"],
        "format": "article",
        "published_at": T0,
    }
    data.update(fields)
    return Item.model_validate(data)


def auto_tag(audience: str, score: float = 0.7) -> AudienceTag:
    """A tagger (auto-source) tag."""
    return AudienceTag(audience=audience, score=score, source=TagSource.AUTO)


def make_event(event_id: str, item_id: str = "a", minutes: int = 0, **fields: object) -> Event:
    """A valid view event `minutes` after T0 (user u1 unless overridden)."""
    data: dict[str, object] = {
        "event_id": event_id,
        "user_id": "u1",
        "item_id": item_id,
        "type": EventType.VIEW,
        "timestamp": T0 + timedelta(minutes=minutes),
    }
    data.update(fields)
    return Event.model_validate(data)
