"""Engines for the store's two backends and the programmatic `alembic upgrade` the Store runs on open.

SQLite gets WAL journaling (readers never block the writer), enforced foreign keys and a busy timeout
so concurrent writers wait instead of failing; its file's parent folder is created on demand.
PostgreSQL migrations take an advisory lock so two processes opening a fresh store do not race.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
"""The Alembic script folder shipped inside the package (env.py, versions/)."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
_MIGRATION_LOCK_KEY = 0x6B657075  # "kepu": PostgreSQL advisory lock id held while migrating


WRITE_OPTION = "kepu_write"
"""Connection execution option marking a write transaction (SQLite then takes the write lock up front)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin/commit be the real transaction boundaries (see `_sqlite_begin`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # an acknowledged write survives power loss (docs/security.md)
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """BEGIN IMMEDIATE for writes: a deferred transaction that reads first and writes later can fail
    with SQLITE_BUSY when another writer commits in between; taking the lock up front makes it wait."""
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, **engine_kwargs: Any) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg2://...) with the per-backend settings."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        in_memory = database in (None, "", ":memory:")
        if not in_memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        else:
            # One shared connection, or every pool checkout would see a different empty database.
            engine_kwargs.setdefault("poolclass", StaticPool)
            engine_kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(parsed, **engine_kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        engine_kwargs.setdefault("pool_pre_ping", True)  # reconnects by itself after a server restart
        engine_kwargs.setdefault("connect_args", {"connect_timeout": 5})  # an unreachable host fails fast
        return create_engine(parsed, **engine_kwargs)
    raise ValueError(
        f"unsupported store URL backend {backend!r} in {parsed!r}: use sqlite:/// or postgresql+psycopg2://"
    )


def alembic_config() -> Config:
    """Alembic config pointing at the packaged migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions found in {MIGRATIONS_DIR / 'versions'}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` on this engine in one transaction."""
    config = alembic_config()
    with engine.connect() as connection, connection.execution_options(**{WRITE_OPTION: True}).begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
