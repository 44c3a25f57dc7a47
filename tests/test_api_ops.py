"""Ops and plumbing: health, readiness, metrics, model activation, body limit, error shape, static files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from content_catalog.store import Store
from tests.test_api_support import (
    ADMIN,
    EDITOR,
    INGEST,
    READER,
    make_store,
    shared_trained_db,
    store_only_client,
    trained_client,
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    with trained_client(shared_trained_db(), tmp_path) as pair:
        yield pair


def test_health_and_readiness(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": "ok", "model": "ok (v1)"}


def test_not_ready_without_a_model(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    try:
        with store_only_client(tmp_path, store) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["model"] == "no model loaded"
            # still serving content/rules-based lists (no model needed for a first page)
            page = client.get("/v1/recommendations", params={"audience": "seniors"}, headers=READER).json()
            assert page["model_version"] is None and page["items"]
    finally:
        store.close()


def test_models_list_and_activation(app: tuple[TestClient, Store]) -> None:
    client, store = app
    listed = client.get("/v1/models", headers=EDITOR).json()
    assert sorted((m["version"], m["active"]) for m in listed["models"]) == [("v1", True), ("v2", False)]
    assert listed["serving"] == "v1"
    first = next(m for m in listed["models"] if m["version"] == "v1")
    selection = first["selection"]  # what `kepu train --model auto` chose and why (tests/test_train.py: figures)
    assert first["model"] == selection["model"] == "lightfm" and selection["reason"]
    assert first["data_counts"]["events"] > 0 and first["data_counts"]["items"] > 0
    missing = client.post("/v1/models/v9:activate", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "path.version"
    assert client.post("/v1/models/v2:activate", headers=EDITOR).status_code == 403
    ok = client.post("/v1/models/v2:activate", headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["serving"] == "v2"
    assert store.active_model_version().version == "v2"
    assert any(e.action == "models.activate" for e in store.audit_log(target="model:v2"))


def test_corrupt_bundle_never_activates(app: tuple[TestClient, Store], tmp_path: Path) -> None:
    client, store = app
    source = Path(next(m.path for m in store.list_model_versions() if m.version == "v2"))
    broken = tmp_path / "broken-v3"
    broken.mkdir()
    for f in source.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((broken / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = "v3"
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    store.add_model_version("v3", str(broken), manifest=manifest, checksum=None)
    popularity = broken / "popularity.npy"
    popularity.write_bytes(popularity.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # flip bytes: sha256 differs
    response = client.post("/v1/models/v3:activate", headers=ADMIN)
    assert response.status_code == 409
    assert "sha256 mismatch" in response.json()["error"]["message"]
    assert store.active_model_version().version == "v1"
    assert client.get("/v1/models", headers=EDITOR).json()["serving"] == "v1"
    page = client.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
    assert page["model_version"] == "v1"


def test_metrics_exposition(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    client.get("/v1/recommendations", params={"audience": "youth", "channel": "kiosk"}, headers=READER)
    client.post(
        "/v1/events",
        json={"events": [{"event_id": "m1", "session_id": "s-m", "item_id": "seed-1", "type": "view"}]},
        headers=INGEST,
    )
    client.get("/v1/audiences", headers=READER)
    client.get("/v1/audiences", headers=READER)
    text = client.get("/metrics").text
    assert 'kepu_recommendations_served_total{channel="kiosk",kind="personal"} 1.0' in text
    assert 'kepu_events_ingested_total{outcome="accepted"} 1.0' in text
    assert 'kepu_http_request_duration_seconds_count{method="GET",route="/v1/recommendations",status="200"}' in text
    assert 'kepu_active_model_info{version="v1"} 1.0' in text
    assert 'kepu_cache_requests_total{cache="catalog_stats",result="hit"} 1.0' in text


def test_audiences_list(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    body = client.get("/v1/audiences", headers=READER).json()
    by_id = {a["id"]: a for a in body["audiences"]}
    assert by_id["seniors"] == {"id": "seniors", "label": "老年人", "item_count": 3}
    assert by_id["farmers"]["item_count"] == 3
    assert body["untagged_items"] == 0


def test_oversized_body_is_413(app: tuple[TestClient, Store]) -> None:
    client, store = app
    events = [
        {"event_id": f"big-{i}", "session_id": "s-1", "item_id": "seed-1", "type": "view", "channel": "web"}
        for i in range(900)
    ]
    response = client.post("/v1/events", json={"events": events}, headers=INGEST)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "field": "body",
        "message": "request body exceeds the limit of 65536 bytes",
    }
    assert not store.events_frame()["event_id"].str.startswith("big-").any()  # nothing partially applied


def test_streamed_body_without_length_is_cut_at_the_limit(app: tuple[TestClient, Store]) -> None:
    client, _ = app

    def chunks() -> Iterator[bytes]:
        yield b'{"events": ['
        for i in range(5000):
            yield b'{"event_id": "x%d", "session_id": "s", "item_id": "seed-1", "type": "view"},' % i
        yield b"]}"

    response = client.post("/v1/events", content=chunks(), headers={**INGEST, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method_use_error_shape(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"code", "message", "field"}
    wrong = client.delete("/v1/audiences", headers=ADMIN)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_openapi_docs_and_static_pages(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    spec = client.get("/openapi.json").json()
    assert "/v1/items:batch" in spec["paths"] and "/v1/models/{version}:activate" in spec["paths"]
    assert client.get("/docs").status_code == 200
    editor = client.get("/editor/")
    assert editor.status_code == 200 and "编辑工作台" in editor.text
    assert client.get("/editor/editor.js").status_code == 200
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and "KepuWidget" in widget.text
    assert "/widget.js" in client.get("/examples/museum.html").text


def test_first_item_in_an_empty_catalog_is_searchable(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}")
    try:
        with store_only_client(tmp_path, store) as client:
            assert client.get("/v1/search", params={"q": "台风"}, headers=READER).json()["items"] == []
            item = {"title": "台风来临前的准备", "summary": "家庭应急包清单", "topics": ["disaster_prevention"]}
            assert client.put("/v1/items/typhoon-1", json=item, headers=INGEST).status_code == 201
            hits = client.get("/v1/search", params={"q": "台风"}, headers=READER).json()
            assert [h["id"] for h in hits["items"]] == ["typhoon-1"]
    finally:
        store.close()
