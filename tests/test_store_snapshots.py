"""What migration 0003 added, on SQLite and PostgreSQL: feed snapshots with expiry, per-store shared
secrets, and experiment variant params (with exactly one audit row per experiment upsert)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from content_catalog.store import Store
from content_catalog.store.types import utc_now
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

PAYLOAD = {"ranked": ["a", "b"], "context": {"a": "seniors", "t": []}, "details": {"a": [0.5, "为老年朋友精选"]}}


def test_snapshot_round_trip_replace_and_expiry(store: Store) -> None:
    store.save_snapshot("s1", PAYLOAD, ttl_seconds=60)
    assert store.load_snapshot("s1") == PAYLOAD
    store.save_snapshot("s1", {"ranked": ["c"]}, ttl_seconds=60)  # same id: replaced, not duplicated
    assert store.load_snapshot("s1") == {"ranked": ["c"]}
    assert store.load_snapshot("missing") is None

    store.save_snapshot("short", PAYLOAD, ttl_seconds=0.001)
    assert store.load_snapshot("short") is None  # expired rows are invisible before any purge
    assert store.purge_snapshots() == 1
    assert store.purge_snapshots(before=utc_now() + timedelta(hours=2)) == 1  # s1 (expires in 60 s)
    assert store.load_snapshot("s1") is None


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
