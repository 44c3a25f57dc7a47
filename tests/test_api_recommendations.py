"""Recommendations, similar, search and audience preview over a real (small) trained model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from content_catalog.store import Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, READER, shared_trained_db, trained_client


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    with trained_client(shared_trained_db(), tmp_path) as pair:
        yield pair


def recommend(client: TestClient, **params: object) -> dict:
    response = client.get("/v1/recommendations", params=params, headers=READER)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [card["id"] for card in page["items"]]


def test_known_user_gets_cards_with_reasons(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    response = client.get("/v1/recommendations", params={"user_id": "u1", "k": 4}, headers=READER)
    assert response.status_code == 200
    page = response.json()
    assert page["model_version"] == "v1"
    assert page["request_id"] == response.headers["x-request-id"]
    assert 0 < len(page["items"]) <= 4
    card = page["items"][0]
    assert set(card) == {
        "id",
        "title",
        "summary",
        "cover_url",
        "url",
        "format",
        "topics",
        "audiences",
        "score",
        "reason",
    }
    assert all(c["reason"] for c in page["items"])


def test_unknown_user_gets_cold_start_for_audience(app: tuple[TestClient, Store]) -> None:
    client, store = app
    page = recommend(client, user_id="never-seen", audience="farmers", k=3)
    assert len(page["items"]) == 3
    allowed = {it.id for a in ("farmers", "public") for it in store.list_items(audience=a)}
    assert set(ids(page)) <= allowed
    assert ids(page)[0] in {it.id for it in store.list_items(audience="farmers")}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"user_id": "u1", "k": 0}, "query.k"),
        ({"user_id": "u1", "k": 101}, "query.k"),
        ({"user_id": "u1", "channel": "tv"}, "query.channel"),
        ({"user_id": "u1", "audience": "aliens"}, "query.audience"),
        ({"user_id": "bad id!"}, "query.user_id"),
        ({"user_id": "u1", "topic": ["health", "astrology"]}, "query.topic.1"),
        ({"k": 5}, "query.user_id"),
    ],
)
def test_bad_query_names_field(app: tuple[TestClient, Store], params: dict, field: str) -> None:
    client, _ = app
    response = client.get("/v1/recommendations", params=params, headers=READER)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_topic_filter(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    page = recommend(client, session_id="s-topic", audience="public", topic=["health"], k=10)
    assert page["items"] and all("health" in c["topics"] for c in page["items"])


def test_cursor_paging_has_no_repeats_across_a_model_swap(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    first = recommend(client, session_id="s-pager", audience="public", k=3)
    assert first["model_version"] == "v1" and first["next_cursor"]
    swap = client.post("/v1/models/v2:activate", headers=ADMIN)
    assert swap.status_code == 200, swap.text
    assert swap.json()["serving"] == "v2"
    seen = ids(first)
    cursor = first["next_cursor"]
    last_version = None
    while cursor:
        page = recommend(client, session_id="s-pager", audience="public", k=3, cursor=cursor)
        seen += ids(page)
        cursor = page["next_cursor"]
        last_version = page["model_version"]
    assert len(seen) == len(set(seen)), seen
    assert last_version == "v2"
    fresh = recommend(client, session_id="s-other", audience="public", k=3)
    assert fresh["model_version"] == "v2"


def test_tampered_cursor_is_400(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    first = recommend(client, session_id="s-t", audience="youth", k=2)
    bad = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
    response = client.get(
        "/v1/recommendations", params={"session_id": "s-t", "audience": "youth", "cursor": bad}, headers=READER
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "query.cursor"
    other = client.get(
        "/v1/recommendations",
        params={"session_id": "s-x", "audience": "youth", "cursor": first["next_cursor"]},
        headers=READER,
    )
    assert other.status_code == 400  # a cursor belongs to the request that made it


def test_new_item_is_recommendable_via_content_without_retraining(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    read = {"event_id": "read-1", "session_id": "s-space", "item_id": "space-1", "type": "complete"}
    assert client.post("/v1/events", json={"events": [read]}, headers=INGEST).json()["accepted"] == 1
    new = {
        "title": "空间站航天员的一天与太空实验",
        "summary": "航天员在中国空间站里的生活、锻炼和科学实验",
        "topics": ["aerospace"],
        "format": "video",
        "audiences": ["youth"],
    }
    assert client.put("/v1/items/space-new", json=new, headers=INGEST).status_code == 201
    hits = client.get("/v1/search", params={"q": "空间站航天员", "k": 3}, headers=READER).json()
    assert "space-new" in [h["id"] for h in hits["items"]]
    similar = client.get("/v1/items/space-1/similar", params={"k": 3}, headers=READER).json()
    assert "space-new" in [h["id"] for h in similar["items"]]
    page = recommend(client, session_id="s-space", audience="youth", k=10)
    assert "space-1" not in ids(page)  # already read
    card = next(c for c in page["items"] if c["id"] == "space-new")
    assert "中国空间站的一天" in card["reason"]


def test_deleted_item_disappears(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    before = recommend(client, session_id="s-del", audience="seniors", k=10)
    victim = ids(before)[0]
    assert client.delete(f"/v1/items/{victim}", headers=INGEST).status_code == 204
    after = recommend(client, session_id="s-del2", audience="seniors", k=10)
    assert victim not in ids(after)
    hits = client.get("/v1/search", params={"q": before["items"][0]["title"]}, headers=READER).json()
    assert victim not in [h["id"] for h in hits["items"]]


def test_similar_unknown_item_is_404(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    response = client.get("/v1/items/nope/similar", headers=READER)
    assert response.status_code == 404 and response.json()["error"]["field"] == "path.item_id"


def test_search_needs_text_and_filters_audience(app: tuple[TestClient, Store]) -> None:
    client, store = app
    assert client.get("/v1/search", params={"q": ""}, headers=READER).json()["error"]["field"] == "query.q"
    hits = client.get("/v1/search", params={"q": "水稻 病虫害", "audience": "farmers", "k": 5}, headers=READER).json()
    # items for the general public are eligible for every audience
    allowed = {it.id for a in ("farmers", "public") for it in store.list_items(audience=a)}
    assert hits["items"] and {h["id"] for h in hits["items"]} <= allowed
    assert hits["items"][0]["id"] == "seed-1"


def test_event_after_training_changes_next_result(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    first = recommend(client, session_id="s-live", audience="seniors", k=2)
    top = ids(first)[0]
    event = {"event_id": "live-1", "session_id": "s-live", "item_id": top, "type": "hide"}
    client.post("/v1/events", json={"events": [event]}, headers=INGEST)
    again = recommend(client, session_id="s-live", audience="seniors", k=2)
    assert top not in ids(again)


def test_preview_rules_and_override(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    url = "/v1/audiences/seniors/preview"
    base = client.get(url, params={"channel": "kiosk", "k": 5}, headers=READER).json()
    assert base["items"] and all(c["reason"] for c in base["items"])
    assert "carbon-1" not in ids(base)
    # an editor re-tags an officials item for seniors: it becomes eligible for the senior preview
    client.put("/v1/items/carbon-1/audiences", json={"audiences": ["seniors", "officials"]}, headers=EDITOR)
    pin = client.post(
        "/v1/rules", json={"kind": "pin", "item_id": "carbon-1", "position": 0, "audience": "seniors"}, headers=EDITOR
    )
    assert pin.status_code == 201, pin.text
    pinned = client.get(url, params={"channel": "kiosk", "k": 5}, headers=READER).json()
    assert ids(pinned)[0] == "carbon-1"
    assert pinned["items"][0]["reason"] == "编辑推荐"
    other = client.get("/v1/audiences/youth/preview", params={"k": 5}, headers=READER).json()
    assert "carbon-1" not in ids(other)  # the pin is scoped to seniors
    block = client.post("/v1/rules", json={"kind": "block", "item_id": base["items"][0]["id"]}, headers=EDITOR)
    assert block.status_code == 201
    blocked = client.get(url, params={"channel": "kiosk", "k": 5}, headers=READER).json()
    assert base["items"][0]["id"] not in ids(blocked)
    assert client.delete(f"/v1/rules/{pin.json()['id']}", headers=EDITOR).status_code == 204
    unpinned = client.get(url, params={"channel": "kiosk", "k": 5}, headers=READER).json()
    assert not unpinned["items"] or unpinned["items"][0]["reason"] != "编辑推荐"


def test_preview_bad_audience(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    response = client.get("/v1/audiences/martians/preview", headers=READER)
    assert response.status_code == 422 and response.json()["error"]["field"] == "path.audience"


def test_search_answers_nothing_with_a_hint_and_hidden_items_need_an_editor(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    found = client.get("/v1/search", params={"q": "水稻 病虫害"}, headers=READER).json()
    assert found["items"] and found["hint"] is None
    nothing = client.get("/v1/search", params={"q": "周杰伦演唱会门票"}, headers=READER).json()
    assert nothing["items"] == [] and nothing["hint"]
    refused = client.get("/v1/search", params={"q": "水稻", "include_hidden": "true"}, headers=READER)
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "query.include_hidden"
    allowed = client.get("/v1/search", params={"q": "水稻 病虫害", "include_hidden": "true"}, headers=EDITOR)
    assert allowed.status_code == 200 and allowed.json()["items"]
