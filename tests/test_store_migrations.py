"""Schema migrations on SQLite and PostgreSQL: an older store upgrades in place with its rows intact,
the ORM models match what the migrations build, and SQLite gets its pragmas and default location."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from content_catalog.settings import Settings
from content_catalog.store import Store
from content_catalog.store.engine import alembic_config, head_revision, make_engine, upgrade
from content_catalog.store.models import Base
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    empty_url_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
)

_SENIORS = json.dumps([{"audience": "seniors", "score": 1.0, "source": "editor", "reason": None}])
_ITEM_0001: dict[str, object] = {
    "id": "legacy-1",
    "title": "老版本里的文章",
    "summary": "摘要",
    "topics": json.dumps(["health"]),
    "topic_keys": ",health,",
    "format": "article",
    "audiences": _SENIORS,
    "audience_keys": ",seniors,",
    "feed_audiences": _SENIORS,
    "auto_audiences": "[]",
    "published_at": T0,
    "verified": True,
    "reading_level": "easy",
    "row_version": 1,
    "created_at": T0,
    "updated_at": T0,
}


def _insert_0001_rows(url: str) -> None:
    """Rows as version 0001 of the code wrote them (plain SQL: today's ORM models describe head)."""
    engine = make_engine(url)
    upgrade(engine, "0001")
    columns = ", ".join(_ITEM_0001)
    values = ", ".join(f":{name}" for name in _ITEM_0001)
    naive = engine.dialect.name == "sqlite"  # 0001 stored SQLite timestamps as naive UTC text too
    params = {k: (v.replace(tzinfo=None) if naive and isinstance(v, datetime) else v) for k, v in _ITEM_0001.items()}
    with engine.begin() as connection:
        connection.execute(text(f"INSERT INTO items ({columns}) VALUES ({values})"), params)
        connection.execute(
            text(
                "INSERT INTO events (event_id, user_id, item_id, type, timestamp, received_at) "
                "VALUES ('old-e1', 'u1', 'legacy-1', 'view', :ts, :ts)"
            ),
            {"ts": params["published_at"]},
        )
    engine.dispose()


def test_store_from_0001_upgrades_in_place(empty_url: str) -> None:
    _insert_0001_rows(empty_url)
    engine = make_engine(empty_url)
    assert "audit_log" not in inspect(engine).get_table_names()
    engine.dispose()

    with Store(empty_url) as store:
        assert store.schema_revision() == head_revision() == "0007"
        legacy = store.get_item("legacy-1")
        assert legacy is not None and legacy.title == "老版本里的文章"
        assert legacy.published_at == T0 and legacy.published_at.tzinfo is not None
        assert [t.audience for t in legacy.audiences] == ["seniors"]
        assert list(store.events_frame()["event_id"]) == ["old-e1"]
        # What 0002 added works on the upgraded store: soft delete, audit log, model versions.
        assert store.add_events([make_event("old-e1"), make_event("new-e2")]).accepted == 1
        assert store.delete_item("legacy-1", actor="ed") is True
        assert store.get_item("legacy-1") is None
        assert store.audit_log()[0].action == "items.delete"
        store.add_model_version("v1", "/m/v1", activate=True)
        assert store.active_model_version() is not None

    with Store(empty_url) as reopened:  # opening again is a no-op migration
        assert reopened.count_items(include_deleted=True) == 1


def _insert_0002_rows(url: str) -> None:
    """An 0002 store: an item, an event, two experiments, and the API's old stopgap that kept variant
    params as `experiments.params` audit entries (the newest one per experiment counts)."""
    _insert_0001_rows(url)
    engine = make_engine(url)
    upgrade(engine, "0002")
    naive = engine.dialect.name == "sqlite"
    at = T0.replace(tzinfo=None) if naive else T0
    audit = (
        "INSERT INTO audit_log (actor, action, target, payload, at) VALUES (:actor, :action, :target, :payload, :at)"
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (name, variants, active, created_at) VALUES (:name, :variants, :active, :at)"
            ),
            [
                {
                    "name": "diversity",
                    "variants": json.dumps({"control": 0.5, "diverse": 0.5}),
                    "active": True,
                    "at": at,
                },
                {"name": "plain", "variants": json.dumps({"a": 1.0}), "active": False, "at": at},
            ],
        )
        old, new = ({"diverse": {"mmr_lambda": value}} for value in (0.9, 0.3))
        connection.execute(
            text(audit),
            [
                {"actor": "admin:k1", "action": "experiments.params", "target": "experiment:diversity", "at": at}
                | {"payload": json.dumps({"params": params})}
                for params in (old, new)
            ]
            + [{"actor": "ed", "action": "rules.add", "target": "rule:1", "payload": "{}", "at": at}],
        )
    engine.dispose()


def test_store_from_0002_upgrades_in_place(empty_url: str) -> None:
    _insert_0002_rows(empty_url)
    engine = make_engine(empty_url)
    assert "feed_snapshots" not in inspect(engine).get_table_names()
    engine.dispose()

    with Store(empty_url) as store:
        assert store.schema_revision() == "0007"
        legacy = store.get_item("legacy-1")
        assert legacy is not None and legacy.title == "老版本里的文章"
        assert list(store.events_frame()["event_id"]) == ["old-e1"]
        assert len(store.audit_log()) == 3  # the audit trail itself is left as it was
        experiments = {e.name: e for e in store.list_experiments()}
        assert experiments["diversity"].variants == {"control": 0.5, "diverse": 0.5}
        assert experiments["diversity"].params == {"diverse": {"mmr_lambda": 0.3}}  # the newest stopgap entry
        assert experiments["plain"].params == {} and experiments["plain"].active is False
        # What 0003 added works on the upgraded store.
        store.save_snapshot("snap-1", {"ranked": ["legacy-1"]}, ttl_seconds=60)
        assert store.load_snapshot("snap-1") == {"ranked": ["legacy-1"]}
        assert store.shared_secret("cursor_secret") == store.shared_secret("cursor_secret")
        updated = store.upsert_experiment("diversity", {"control": 1, "diverse": 3}, actor="admin:k1")
        assert updated.params == {"diverse": {"mmr_lambda": 0.3}}  # params=None keeps the stored ones


def test_models_match_the_migrations(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"ORM models and Alembic migrations disagree; add a migration: {diff}"


def test_downgrade_then_upgrade_again(empty_url: str) -> None:
    with Store(empty_url) as store:
        store.upsert_items([make_item("a")])
    config = alembic_config()
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    tables = inspect(engine).get_table_names()
    assert "model_versions" not in tables and "feed_snapshots" not in tables and "app_secrets" not in tables
    engine.dispose()
    with Store(empty_url) as store:
        assert store.get_item("a") is not None


def test_sqlite_default_location_and_pragmas(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "nested" / "var")
    with Store.from_settings(settings) as store:
        assert (tmp_path / "nested" / "var" / "kepu.db").is_file()
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        store.upsert_items([make_item("a", published_at=datetime(2025, 1, 1, tzinfo=UTC))])
        assert store.count_items() == 1


def test_in_memory_sqlite_store_works() -> None:
    with Store("sqlite://") as store:
        store.upsert_items([make_item("a")])
        assert store.get_item("a") is not None
