"""The Store's core: engine, migrations on open, and the transaction helpers every part uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from content_catalog.settings import Settings
from content_catalog.store import engine as engines
from content_catalog.store.models import AuditRow
from content_catalog.store.types import utc_now

T = TypeVar("T")
_UNIQUE_VIOLATION = "23505"  # PostgreSQL SQLSTATE
_RACE_ATTEMPTS = 3


class StoreBase:
    """Opens the database, brings its schema to the newest revision, and hands out transactions.

    Every public write method runs in exactly one transaction (`_write()`): it commits as a whole or,
    on any error, rolls back so nothing is half-written.
    """

    def __init__(
        self, url: str, *, migrate: bool = True, clock: Callable[[], datetime] = utc_now, **engine_kwargs: Any
    ) -> None:
        self.url = url
        self.clock = clock  # current time (aware UTC); tests pass their own to control expiry, no sleeps
        self._engine: Engine = engines.make_engine(url, **engine_kwargs)
        if migrate:
            engines.upgrade(self._engine, "head")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Self:
        """Open the store at `settings.resolved_store_url` (default: a SQLite file under ./var/)."""
        return cls((settings or Settings()).resolved_store_url)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for diagnostics and tests; prefer the Store's methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        return engines.current_revision(self._engine)

    def close(self) -> None:
        """Release all pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A session inside one write transaction: commit on success, roll back on any error."""
        with self._engine.connect() as connection:
            connection.execution_options(**{engines.WRITE_OPTION: True})
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session

    def _retry_key_races(self, write: Callable[[], T]) -> T:
        """Run a read-then-insert write, retrying when a concurrent PostgreSQL transaction inserted the
        same key first (the retry sees that row and updates it). SQLite writers are serialised by
        BEGIN IMMEDIATE, and other integrity errors (bad data) are raised at once."""
        for attempt in range(_RACE_ATTEMPTS):
            try:
                return write()
            except IntegrityError as exc:
                if attempt == _RACE_ATTEMPTS - 1 or getattr(exc.orig, "pgcode", None) != _UNIQUE_VIOLATION:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session inside one read transaction (a consistent snapshot)."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    def _insert(self, table: Any) -> Insert:
        """Dialect-specific INSERT that supports ON CONFLICT DO NOTHING."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @staticmethod
    def _audit(session: Session, actor: str, action: str, target: str, payload: dict[str, Any] | None) -> None:
        """Add an audit row in the caller's transaction."""
        session.add(AuditRow(actor=actor, action=action, target=target, payload=payload or {}, at=utc_now()))
