"""Auth: roles reader < ingest < editor < admin, 401 without/unknown key, 403 wrong role or no keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.roles import Role
from api.service_provider import BundleServiceProvider
from api.settings import ApiSettings
from content_catalog.store import Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, READER, api_settings, make_store, store_only_client

ITEM = {"title": "台风来临前的准备", "topics": ["disaster_prevention"], "audiences": ["public"]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    with store_only_client(tmp_path, store) as c:
        yield c


def _app(tmp_path: Path, store: Store, **overrides: object) -> TestClient:
    settings = api_settings(tmp_path, **overrides)
    return TestClient(create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings)))


def test_missing_key_is_401_with_error_shape(client: TestClient) -> None:
    response = client.put("/v1/items/new-1", json=ITEM)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and "X-API-Key" in error["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.get("/v1/items/seed-1", headers={"X-API-Key": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "unknown API key"


@pytest.mark.parametrize(
    ("method", "path", "body", "too_weak", "enough"),
    [
        ("put", "/v1/items/new-1", ITEM, READER, INGEST),
        ("put", "/v1/items/seed-1/audiences", {"audiences": ["farmers"]}, INGEST, EDITOR),
        ("post", "/v1/rules", {"kind": "block", "item_id": "seed-1"}, INGEST, EDITOR),
        ("get", "/v1/rules", None, INGEST, EDITOR),
        ("post", "/v1/experiments", {"name": "e1", "variants": [{"name": "a"}]}, EDITOR, ADMIN),
        ("get", "/v1/users/u1", None, EDITOR, ADMIN),
    ],
)
def test_role_ladder(
    client: TestClient, method: str, path: str, body: dict | None, too_weak: dict, enough: dict
) -> None:
    kwargs = {"json": body} if body is not None else {}
    weak = client.request(method, path, headers=too_weak, **kwargs)
    assert weak.status_code == 403, weak.text
    assert "or higher is required" in weak.json()["error"]["message"]
    strong = client.request(method, path, headers=enough, **kwargs)
    assert strong.status_code not in (401, 403), strong.text


def test_bearer_header_is_accepted(client: TestClient) -> None:
    response = client.get("/v1/items/seed-1", headers={"Authorization": "Bearer reader-key-1"})
    assert response.status_code == 200


def test_reads_need_a_key_unless_public(tmp_path: Path, store: Store) -> None:
    assert _app(tmp_path, store).get("/v1/items/seed-1").status_code == 401
    public = _app(tmp_path, store, public_reads=True)
    assert public.get("/v1/items/seed-1").status_code == 200
    assert public.put("/v1/items/x-1", json=ITEM).status_code == 401  # writes stay keyed


def test_no_keys_configured_refuses_every_write(tmp_path: Path, store: Store) -> None:
    c = _app(tmp_path, store, api_keys={}, public_reads=True)
    response = c.put("/v1/items/x-1", json=ITEM)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_keys_configured"
    assert "no API keys configured" in response.json()["error"]["message"]
    assert c.post("/v1/models/v1:activate").status_code == 403
    assert c.get("/v1/items/seed-1").status_code == 200


def test_public_events_opens_only_event_posting(tmp_path: Path, store: Store) -> None:
    c = _app(tmp_path, store, public_events=True)
    event = {"event_id": "e1", "session_id": "s-1", "item_id": "seed-1", "type": "click"}
    assert c.post("/v1/events", json={"events": [event]}).status_code == 200
    assert c.put("/v1/items/x-1", json=ITEM).status_code == 401


def test_keys_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"file-key": "editor"}', encoding="utf-8")
    monkeypatch.setenv("KEPU_API_KEYS", '{"env-key": "admin"}')
    monkeypatch.setenv("KEPU_API_KEYS_FILE", str(keys))
    monkeypatch.setenv("KEPU_CORS_ORIGINS", "https://museum.example,https://kepu.example")
    settings = ApiSettings()
    assert settings.api_keys == {"env-key": Role.ADMIN, "file-key": Role.EDITOR}
    assert settings.cors_origins == ["https://museum.example", "https://kepu.example"]


def test_bad_keys_file_names_the_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"k": "superuser"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"keys\.json.*unknown role 'superuser'"):
        ApiSettings(api_keys_file=keys)


def test_cors_preflight_allows_configured_origin(tmp_path: Path, store: Store) -> None:
    c = _app(tmp_path, store, cors_origins=["https://museum.example"])
    response = c.options(
        "/v1/events",
        headers={
            "Origin": "https://museum.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://museum.example"
    other = c.options("/v1/events", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
