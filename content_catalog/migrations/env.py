"""Alembic environment for the Kepu store.

The Store passes its own open connection in `config.attributes["connection"]` (so SQLite pragmas and
PostgreSQL advisory locks apply); the alembic CLI instead gives a URL via `-x url=...` or
`KEPU_STORE_URL`, falling back to the default SQLite file from the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from content_catalog.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_url() -> None:
    from content_catalog.settings import Settings
    from content_catalog.store.engine import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or Settings().resolved_store_url
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database URL")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _run_from_url()
