"""Several workers on one store, simulated in-process: two apps, each with its own Store connection and
service (as two uvicorn workers have). Cursors from one are honoured by the other, and a model version
activated through one is served by the other after `model_sync_seconds` (of a clock the test moves)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service_provider import BundleServiceProvider
from content_catalog.store import Store
from tests.test_api_support import ADMIN, READER, api_settings, shared_trained_db

SYNC_SECONDS = 600.0  # never reached by the wall clock during a test: only `TICKS` moves time
TICKS = [0.0]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, Store]]:
    db = tmp_path / "kepu.db"
    shutil.copyfile(shared_trained_db(), db)
    settings = api_settings(tmp_path, model_sync_seconds=SYNC_SECONDS)
    TICKS[0] = 0.0
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            store = Store(f"sqlite:///{db.as_posix()}")
            stack.callback(store.close)
            provider = BundleServiceProvider(store, settings, monotonic=lambda: TICKS[0])
            app = create_app(settings, store=store, service_provider=provider)
            clients.append(stack.enter_context(TestClient(app)))
        yield clients[0], clients[1], store


def test_pages_alternate_between_workers_without_repeats(workers: tuple) -> None:
    first, second, _ = workers
    params = {"session_id": "s-both", "audience": "public", "k": 2}
    page = first.get("/v1/recommendations", params=params, headers=READER).json()
    served, n = [card["id"] for card in page["items"]], 1
    while page["next_cursor"]:
        client = (first, second)[n % 2]
        response = client.get("/v1/recommendations", params=params | {"cursor": page["next_cursor"]}, headers=READER)
        assert response.status_code == 200, response.text
        page = response.json()
        served += [card["id"] for card in page["items"]]
        n += 1
    assert n >= 3 and len(served) == len(set(served))


def test_activation_on_one_worker_reaches_the_other(workers: tuple) -> None:
    first, second, store = workers
    assert second.get("/v1/models", headers=ADMIN).json()["serving"] == "v1"
    assert first.post("/v1/models/v2:activate", headers=ADMIN).json()["serving"] == "v2"
    page = second.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
    assert page["model_version"] == "v1"  # the sync interval has not passed for this worker
    TICKS[0] += SYNC_SECONDS
    page = second.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
    assert page["model_version"] == "v2"
    assert second.get("/v1/models", headers=ADMIN).json()["serving"] == "v2"
    actions = [e.action for e in store.audit_log(target="model:v2")]
    assert actions == ["models.activate", "models.add"]  # following the store writes no audit row


def test_items_written_through_one_worker_are_searchable_and_gone_on_the_other(workers: tuple) -> None:
    first, second, _ = workers
    assert second.get("/v1/search", params={"q": "海绵城市"}, headers=READER).status_code == 200  # warm up
    item = {
        "title": "海绵城市：下雨时城市怎样像海绵一样吸水",
        "summary": "透水砖、下沉式绿地和雨水花园让雨水就地下渗，减轻内涝。",
        "topics": ["ecology", "disaster_prevention"],
        "audiences": ["public"],
    }
    assert first.put("/v1/items/sponge-city", json=item, headers=ADMIN).status_code == 201
    hits = second.get("/v1/search", params={"q": "海绵城市 透水砖"}, headers=READER).json()["items"]
    assert hits and hits[0]["id"] == "sponge-city"
    similar = second.get("/v1/items/sponge-city/similar", headers=READER)
    assert similar.status_code == 200 and "sponge-city" not in [c["id"] for c in similar.json()["items"]]
    assert first.delete("/v1/items/sponge-city", headers=ADMIN).status_code in (200, 204)
    hits = second.get("/v1/search", params={"q": "海绵城市 透水砖"}, headers=READER).json()["items"]
    assert "sponge-city" not in [c["id"] for c in hits]
