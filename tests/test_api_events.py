"""POST /v1/events: idempotent on event_id; valid events stored, invalid ones listed (index + field)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from content_catalog.store import Store
from tests.test_api_support import INGEST, make_store, store_only_client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    with store_only_client(tmp_path, store) as c:
        yield c


def event(i: int, **extra: object) -> dict:
    return {"event_id": f"ev-{i}", "session_id": "s-1", "item_id": "seed-1", "type": "view", **extra}


def test_events_are_idempotent(client: TestClient, store: Store) -> None:
    batch = {"events": [event(1), event(2, type="click", channel="web")]}
    first = client.post("/v1/events", json=batch, headers=INGEST)
    assert first.json() == {"accepted": 2, "duplicates": 0, "erased": 0, "rejected": []}
    replay = client.post("/v1/events", json=batch, headers=INGEST)
    assert replay.json() == {"accepted": 0, "duplicates": 2, "erased": 0, "rejected": []}
    assert store.count_events() == 2


def test_invalid_events_are_listed_and_valid_ones_kept(client: TestClient, store: Store) -> None:
    batch = {
        "events": [
            event(1),
            event(2, type="teleport"),
            {"event_id": "ev-3", "item_id": "seed-1", "type": "view"},  # nobody did it
            event(4, item_id="no-such-item"),
            event(5, mood="happy"),
            event(6, type="dwell"),
        ]
    }
    response = client.post("/v1/events", json=batch, headers=INGEST)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert rejected[1]["field"] == "type"
    assert "user_id or session_id" in rejected[2]["message"]
    assert rejected[3] == {"index": 3, "field": "item_id", "message": "unknown item 'no-such-item'"}
    assert rejected[4]["field"] == "mood" and "unknown field" in rejected[4]["message"]
    assert "dwell_seconds" in rejected[5]["message"]
    assert store.count_events() == 1


def test_batch_over_limit_is_refused_whole(client: TestClient, store: Store) -> None:
    batch = {"events": [event(i) for i in range(1001)]}
    response = client.post("/v1/events", json=batch, headers=INGEST)
    # the limit on bytes or on count refuses it, and nothing is stored either way
    assert response.status_code in (413, 422)
    assert response.json()["error"]["field"] in ("body", "body.events")
    assert store.count_events() == 0


def test_count_limit_names_the_field(tmp_path: Path, store: Store) -> None:
    with store_only_client(tmp_path, store, max_body_bytes=10_000_000) as c:
        response = c.post("/v1/events", json={"events": [event(i) for i in range(1001)]}, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.events"
    assert store.count_events() == 0


def test_empty_or_malformed_body(client: TestClient) -> None:
    assert client.post("/v1/events", json={"events": []}, headers=INGEST).json()["error"]["field"] == "body.events"
    bad_json = client.post("/v1/events", content=b"{not json", headers={**INGEST, "Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert bad_json.json()["error"]["code"] == "validation_error"
    extra = client.post("/v1/events", json={"events": [event(1)], "extra": 1}, headers=INGEST)
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "body.extra"
