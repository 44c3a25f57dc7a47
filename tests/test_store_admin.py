"""Rules, experiments, audit log and model versions on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from content_catalog.store import ConflictError, NotFoundError, RuleKind, Store
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)


def test_rules_time_windows_and_scopes(store: Store) -> None:
    week = T0 + timedelta(days=7)
    pin = store.add_rule("pin", "a", position=0, starts_at=T0, ends_at=week, audience="seniors", created_by="ed")
    boost = store.add_rule(RuleKind.BOOST, "b", weight=1.5, channel="wechat", created_by="ed", note="防诈骗宣传周")
    block = store.add_rule("block", "c", starts_at=week, created_by="ed")

    ids = lambda rules: [r.id for r in rules]  # noqa: E731
    assert ids(store.list_rules()) == [pin.id, boost.id, block.id]
    assert ids(store.list_rules(active_at=T0 - timedelta(seconds=1))) == [boost.id]
    assert ids(store.list_rules(active_at=T0)) == [pin.id, boost.id]
    assert ids(store.list_rules(active_at=week)) == [boost.id, block.id], "ends_at is exclusive"
    assert ids(store.list_rules(active_at=T0, audience="farmers")) == [boost.id]
    assert ids(store.list_rules(active_at=T0, audience="seniors", channel="web")) == [pin.id]
    assert ids(store.list_rules(kind="block")) == [block.id]
    assert pin.starts_at == T0 and pin.starts_at.tzinfo is not None and pin.is_active(T0)
    assert store.list_rules()[1].note == "防诈骗宣传周"

    assert store.delete_rule(pin.id, actor="ed-2") is True
    assert store.delete_rule(pin.id, actor="ed-2") is False
    assert ids(store.list_rules()) == [boost.id, block.id]
    assert store.audit_log(limit=1)[0].action == "rules.delete"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "pin"}, "position"),
        ({"kind": "boost", "weight": 0}, "weight"),
        ({"kind": "block", "weight": 2.0}, "weight"),
        ({"kind": "mute"}, "kind"),
        ({"kind": "block", "audience": "aliens"}, "audience"),
        ({"kind": "block", "channel": "tv"}, "channel"),
        ({"kind": "block", "starts_at": T0, "ends_at": T0}, "ends_at"),
    ],
)
def test_bad_rules_name_the_field(store: Store, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        store.add_rule(item_id="a", created_by="ed", **kwargs)  # type: ignore[arg-type]
    assert store.list_rules() == []


def test_rule_windows_compare_instants_across_time_zones(store: Store) -> None:
    beijing = timezone(timedelta(hours=8))
    store.add_rule("block", "a", starts_at=datetime(2025, 5, 1, 8, 0, tzinfo=beijing), created_by="ed")
    assert store.list_rules(active_at=datetime(2025, 4, 30, 23, 59, tzinfo=UTC)) == []
    assert len(store.list_rules(active_at=datetime(2025, 5, 1, 0, 0, tzinfo=UTC))) == 1


def test_experiments_upsert_and_normalise(store: Store) -> None:
    store.upsert_experiment("feed-v2", {"control": 1, "hybrid": 3})
    store.upsert_experiment("old", {"a": 1}, active=False)
    updated = store.upsert_experiment("feed-v2", {"control": 1, "hybrid": 1})
    assert updated.variants == {"control": 0.5, "hybrid": 0.5}
    assert [e.name for e in store.list_experiments()] == ["feed-v2", "old"]
    assert [e.name for e in store.list_experiments(active_only=True)] == ["feed-v2"]
    with pytest.raises(ValueError, match="variants"):
        store.upsert_experiment("bad", {"a": -1})


def test_audit_log_newest_first(store: Store) -> None:
    store.audit("admin", "keys.create", "key:ops", {"role": "admin"})
    store.audit("ed", "preview", "audience:seniors")
    entries = store.audit_log()
    assert [(e.actor, e.action) for e in entries] == [("ed", "preview"), ("admin", "keys.create")]
    assert entries[1].payload == {"role": "admin"} and entries[0].at.tzinfo is not None


def test_model_activation_is_exclusive(store: Store) -> None:
    assert store.active_model_version() is None
    store.add_model_version("v1", "/models/v1", metrics={"ndcg@10": 0.3}, checksum="abc", activate=True)
    store.add_model_version("v2", "/models/v2", manifest={"items": 10})
    assert store.active_model_version().version == "v1"  # type: ignore[union-attr]
    store.activate_model_version("v2")
    assert [(m.version, m.active) for m in store.list_model_versions()] == [("v2", True), ("v1", False)]
    store.add_model_version("v3", "/models/v3", activate=True)
    assert [m.version for m in store.list_model_versions() if m.active] == ["v3"]
    rolled_back = store.activate_model_version("v1")
    assert rolled_back.active and rolled_back.metrics == {"ndcg@10": 0.3}
    assert [m.version for m in store.list_model_versions() if m.active] == ["v1"]

    with pytest.raises(NotFoundError):
        store.activate_model_version("v9")
    assert store.active_model_version().version == "v1"  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        store.add_model_version("v2", "/elsewhere")


def test_database_itself_refuses_a_second_active_model(store: Store) -> None:
    store.add_model_version("v1", "/m/v1", activate=True)
    store.add_model_version("v2", "/m/v2")
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(text("UPDATE model_versions SET active = TRUE WHERE version = 'v2'"))
    assert store.active_model_version().version == "v1"  # type: ignore[union-attr]


def test_vector_index_versions_track_catalog_version(store: Store) -> None:
    assert store.latest_vector_index_version("tfidf-svd") is None
    store.add_vector_index_version("tfidf-svd", "abc", "/idx/1", 10)
    store.add_vector_index_version("tfidf-svd", store.catalog_version(), "/idx/2", 0)
    latest = store.latest_vector_index_version("tfidf-svd")
    assert latest is not None and latest.path == "/idx/2" and latest.catalog_version == store.catalog_version()
