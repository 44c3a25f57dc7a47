"""Items and users over HTTP: writes, batch all-or-nothing, validation errors naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from content_catalog.store import Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, READER, make_store, store_only_client

NEW = {
    "title": "台风来临前的准备",
    "summary": "家庭应急包清单",
    "topics": ["disaster_prevention"],
    "audiences": ["public"],
    "format": "article",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    with store_only_client(tmp_path, store) as c:
        yield c


def test_put_then_get_item(client: TestClient, store: Store) -> None:
    created = client.put("/v1/items/typhoon-1", json=NEW, headers=INGEST)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "typhoon-1"
    again = client.put("/v1/items/typhoon-1", json={**NEW, "title": "台风季的家庭准备"}, headers=INGEST)
    assert again.status_code == 200
    got = client.get("/v1/items/typhoon-1", headers=READER).json()
    assert got["title"] == "台风季的家庭准备"
    assert got["audiences"][0]["audience"] == "public"
    assert store.get_item("typhoon-1").title == "台风季的家庭准备"


def test_put_item_with_conflicting_body_id(client: TestClient) -> None:
    response = client.put("/v1/items/a-1", json={**NEW, "id": "b-1"}, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.id"


def test_unknown_field_is_422_naming_it(client: TestClient) -> None:
    response = client.put("/v1/items/a-1", json={**NEW, "colour": "red"}, headers=INGEST)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "body.colour"
    assert "unknown field" in error["message"]


def test_bad_topic_names_field(client: TestClient) -> None:
    response = client.put("/v1/items/a-1", json={**NEW, "topics": ["astrology"]}, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.topics"
    assert "astrology" in response.json()["error"]["message"]


def test_get_unknown_item_is_404(client: TestClient) -> None:
    response = client.get("/v1/items/none-such", headers=READER)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "item 'none-such' not found", "field": "path.item_id"}
    }


def test_delete_item(client: TestClient, store: Store) -> None:
    assert client.delete("/v1/items/seed-1", headers=INGEST).status_code == 204
    assert client.get("/v1/items/seed-1", headers=READER).status_code == 404
    assert store.get_item("seed-1") is None
    assert client.delete("/v1/items/seed-1", headers=INGEST).status_code == 404


def test_batch_is_all_or_nothing_and_names_index_and_field(client: TestClient, store: Store) -> None:
    good = {**NEW, "id": "batch-1"}
    bad = {**NEW, "id": "batch-2", "title": ""}
    response = client.post("/v1/items:batch", json={"items": [good, bad]}, headers=INGEST)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "body.items.1.title"
    assert store.get_item("batch-1") is None  # nothing partially applied


def test_batch_duplicate_ids_rejected(client: TestClient, store: Store) -> None:
    items = [{**NEW, "id": "dup-1"}, {**NEW, "id": "dup-2"}, {**NEW, "id": "dup-1"}]
    response = client.post("/v1/items:batch", json={"items": items}, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.items.2.id"
    assert "indexes 0 and 2" in response.json()["error"]["message"]
    assert store.get_item("dup-2") is None


def test_batch_writes_all(client: TestClient, store: Store) -> None:
    items = [{**NEW, "id": f"b-{i}"} for i in range(3)] + [{**NEW, "id": "seed-1", "title": "新标题"}]
    response = client.post("/v1/items:batch", json={"items": items}, headers=INGEST)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 3, "updated": 1}
    assert store.get_item("seed-1").title == "新标题"


def test_audience_override_is_audited_and_survives_reingest(client: TestClient, store: Store) -> None:
    response = client.put(
        "/v1/items/ai-1/audiences", json={"audiences": ["seniors"], "note": "银发数字课"}, headers=EDITOR
    )
    assert response.status_code == 200, response.text
    tags = response.json()["audiences"]
    assert [(t["audience"], t["source"]) for t in tags] == [("seniors", "editor")]
    client.put("/v1/items/ai-1", json={**NEW, "title": "人工智能是怎样学习的"}, headers=INGEST)
    assert [t.audience for t in store.get_item("ai-1").audiences] == ["seniors"]
    detail = client.get("/v1/items/ai-1/audiences", headers=EDITOR).json()
    assert detail["item"]["id"] == "ai-1"
    assert any(h["actor"].startswith("editor:") and h["source"] == "editor" for h in detail["history"])
    assert any(
        e.action == "items.set_audiences" and e.actor.startswith("editor:") for e in store.audit_log(target="item:ai-1")
    )


def test_audience_override_rejects_unknown_audience(client: TestClient) -> None:
    response = client.put("/v1/items/ai-1/audiences", json={"audiences": ["aliens"]}, headers=EDITOR)
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("body.audiences.0")


def test_put_user_links_sessions(client: TestClient, store: Store) -> None:
    body = {"audiences": ["seniors"], "age_band": "60_plus", "town": "沙溪镇", "sessions": ["s-abc"]}
    response = client.put("/v1/users/u-42", json=body, headers=INGEST)
    assert response.status_code == 201, response.text
    assert store.user_for_session("s-abc") == "u-42"
    got = client.get("/v1/users/u-42", headers=ADMIN).json()
    assert got["sessions"] == ["s-abc"] and got["town"] == "沙溪镇"
    assert client.put("/v1/users/u-42", json=body, headers=INGEST).status_code == 200
    assert client.get("/v1/users/nobody", headers=ADMIN).status_code == 404


def test_put_user_bad_audience(client: TestClient) -> None:
    response = client.put("/v1/users/u-1", json={"audiences": ["kings"]}, headers=INGEST)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.audiences"
