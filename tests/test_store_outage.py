"""Store outage: the test's own PostgreSQL server is stopped under a running app. Recommendations keep
serving from memory, /readyz says `degraded`, writes get 503 `store_unavailable`; when the server is
started again everything recovers without restarting the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service_provider import BundleServiceProvider
from content_catalog.store import Store
from recommender.train import train_bundle
from tests.private_postgres import PrivatePostgres, require_binaries
from tests.test_api_support import ADMIN, INGEST, READER, SMALL_TRAINING, api_settings, catalog_items, simulated_events

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, str]]:
    require_binaries()
    server = PrivatePostgres(tmp_path)
    try:
        url = server.start()
        yield server, url
    finally:
        server.destroy()


def trained_postgres_store(url: str, models: Path) -> None:
    """The test catalog, a few users and events, and an active trained version v1 on the server."""
    store = Store(url)
    try:
        items = catalog_items()
        store.upsert_items(items, actor="test")
        users, events = simulated_events(items)
        for user in users:
            store.upsert_user(user)
        store.add_events(events)
        train_bundle(store, "tfidf-svd", models, 1, params=SMALL_TRAINING, version="v1")
        store.add_rule("block", "carbon-1", created_by="test")  # rules must keep applying during the outage
        store.activate_model_version("v1")
    finally:
        store.close()


def test_outage_serves_reads_from_memory_refuses_writes_and_recovers(
    postgres: tuple[PrivatePostgres, str], tmp_path: Path
) -> None:
    server, url = postgres
    trained_postgres_store(url, tmp_path / "models")
    settings = api_settings(tmp_path, store_url=url, model_sync_seconds=0)
    store = Store(url)
    app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
    event = {"event_id": "out-1", "session_id": "s-out", "item_id": "seed-1", "type": "view"}
    try:
        with TestClient(app) as client:
            before = client.get(
                "/v1/recommendations", params={"session_id": "s-1", "audience": "seniors", "k": 2}, headers=READER
            )
            assert before.status_code == 200 and before.json()["model_version"] == "v1"
            assert client.get("/readyz").json()["status"] == "ok"

            server.stop_server()
            for audience in ("seniors", "officials", "farmers"):  # also audiences not asked for before
                page = client.get(
                    "/v1/recommendations",
                    params={"session_id": f"s-{audience}", "audience": audience, "k": 2},
                    headers=READER,
                )
                assert page.status_code == 200, page.text
                body = page.json()
                assert body["items"] and body["model_version"] == "v1"
                assert "carbon-1" not in {card["id"] for card in body["items"]}  # the block rule still holds
                assert body["next_cursor"] is None  # no snapshot can be stored: the feed ends at this page
            hits = client.get("/v1/search", params={"q": "水稻"}, headers=READER)
            assert hits.status_code == 200 and hits.json()["items"]
            similar = client.get("/v1/items/seed-1/similar", params={"k": 3}, headers=READER)
            assert similar.status_code == 200 and similar.json()["items"]
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["store"].startswith("unreachable: OperationalError")
            refused = client.post("/v1/events", json={"events": [event]}, headers=INGEST)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
            error = refused.json()["error"]
            assert error["code"] == "store_unavailable" and "writes are refused" in error["message"]
            put = client.put("/v1/items/new-1", json={"title": "暴雨天气出行安全"}, headers=INGEST)
            assert put.status_code == 503
            assert client.post("/v1/models/v1:activate", headers=ADMIN).status_code == 503

            server.start_server()
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {
                "status": "ok",
                "checks": {"store": "ok", "model": "ok (v1)"},
            }
            stored = client.post("/v1/events", json={"events": [event]}, headers=INGEST)
            assert stored.status_code == 200 and stored.json()["accepted"] == 1
            page = client.get(
                "/v1/recommendations", params={"session_id": "s-after", "audience": "seniors", "k": 2}, headers=READER
            )
            assert page.status_code == 200 and page.json()["next_cursor"] is not None
            assert client.put("/v1/items/new-1", json={"title": "暴雨天气出行安全"}, headers=INGEST).status_code == 201
    finally:
        store.close()
