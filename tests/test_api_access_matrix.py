"""Every route × every caller (none, wrong key, reader, ingest, editor, admin), from one table.

The route list is read from the app itself, so a route added without an entry in ACCESS fails
`test_every_route_has_an_access_entry` until someone decides who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from api.roles import Role
from content_catalog.store import Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, READER, make_store, store_only_client

OPEN = "open"  # no key needed, ever
EVENTS = "events"  # ingest, or anyone when KEPU_PUBLIC_EVENTS

ACCESS: dict[tuple[str, str], str | Role] = {
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/redoc"): OPEN,
    ("GET", "/docs-assets"): OPEN,
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/widget.js"): OPEN,
    ("GET", "/"): OPEN,
    ("GET", "/editor"): OPEN,
    ("GET", "/examples"): OPEN,
    ("GET", "/covers"): OPEN,
    ("GET", "/static"): OPEN,
    ("GET", "/v1/recommendations"): Role.READER,
    ("GET", "/v1/items/{item_id}/similar"): Role.READER,
    ("GET", "/v1/search"): Role.READER,
    ("GET", "/v1/items/{item_id}"): Role.READER,
    ("GET", "/v1/audiences"): Role.READER,
    ("GET", "/v1/audiences/{audience}/preview"): Role.READER,
    ("GET", "/v1/taxonomy"): Role.READER,
    ("POST", "/v1/events"): EVENTS,
    ("PUT", "/v1/items/{item_id}"): Role.INGEST,
    ("POST", "/v1/items:batch"): Role.INGEST,
    ("DELETE", "/v1/items/{item_id}"): Role.INGEST,
    ("PUT", "/v1/users/{user_id}"): Role.INGEST,
    ("PUT", "/v1/items/{item_id}/audiences"): Role.EDITOR,
    ("GET", "/v1/items/{item_id}/audiences"): Role.EDITOR,
    ("GET", "/v1/rules"): Role.EDITOR,
    ("POST", "/v1/rules"): Role.EDITOR,
    ("DELETE", "/v1/rules/{rule_id}"): Role.EDITOR,
    ("GET", "/v1/experiments"): Role.EDITOR,
    ("GET", "/v1/models"): Role.EDITOR,
    ("GET", "/v1/stats/coverage"): Role.EDITOR,
    ("GET", "/v1/stats/reach"): Role.EDITOR,
    ("GET", "/v1/stats/top-items"): Role.EDITOR,
    ("GET", "/v1/stats/experiments"): Role.EDITOR,
    ("GET", "/v1/stats/models"): Role.EDITOR,
    ("GET", "/v1/users/{user_id}"): Role.ADMIN,
    ("GET", "/v1/users/{user_id}/export"): Role.ADMIN,
    ("DELETE", "/v1/users/{user_id}"): Role.ADMIN,
    ("POST", "/v1/experiments"): Role.ADMIN,
    ("POST", "/v1/models/{version}:activate"): Role.ADMIN,
}

PATH_VALUES = {"{item_id}": "seed-1", "{user_id}": "u1", "{rule_id}": "1", "{version}": "v9", "{audience}": "seniors"}
# Valid bodies, so an allowed caller reaches the handler (its answer may still be 404/409, never 401/403).
BODIES = {
    ("POST", "/v1/events"): {"events": [{"event_id": "m-1", "session_id": "s1", "item_id": "seed-2", "type": "view"}]},
    ("PUT", "/v1/items/{item_id}"): {"title": "台风来临前的准备", "topics": ["disaster_prevention"]},
    ("POST", "/v1/items:batch"): {"items": [{"id": "m-2", "title": "地震避险常识"}]},
    ("PUT", "/v1/users/{user_id}"): {"audiences": ["seniors"]},
    ("PUT", "/v1/items/{item_id}/audiences"): {"audiences": ["farmers"]},
    ("POST", "/v1/rules"): {"kind": "block", "item_id": "seed-3"},
    ("POST", "/v1/experiments"): {"name": "m-exp", "variants": [{"name": "a"}]},
}
QUERIES = {("GET", "/v1/recommendations"): {"audience": "seniors"}, ("GET", "/v1/search"): {"q": "水稻"}}
CALLERS: dict[str, tuple[dict[str, str], Role | None]] = {
    "none": ({}, None),
    "wrong-key": ({"X-API-Key": "not-a-key"}, None),
    "reader": (READER, Role.READER),
    "ingest": (INGEST, Role.INGEST),
    "editor": (EDITOR, Role.EDITOR),
    "admin": (ADMIN, Role.ADMIN),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route and mount the app answers (HEAD is implied by GET)."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            methods = getattr(context, "methods", None) or {"GET"}  # a mount serves GET
            found |= {(method, context.path) for method in methods if method != "HEAD"}
    return found


def expected_status(level: str | Role, caller: str, *, public: bool) -> str:
    """'allowed', or the refusal code as a string ('401'/'403')."""
    _, role = CALLERS[caller]
    if level == OPEN:
        return "allowed"
    if caller == "wrong-key":
        return "401"
    needed = Role.INGEST if level == EVENTS else level
    if role is None:
        anonymous_ok = public and (level == EVENTS or level == Role.READER)
        return "allowed" if anonymous_ok else "401"
    return "allowed" if role >= needed else "403"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path)
    yield s
    s.close()


def test_every_route_has_an_access_entry(tmp_path: Path, store: Store) -> None:
    with store_only_client(tmp_path, store) as client:
        routes = app_routes(client.app)
    assert routes - ACCESS.keys() == set(), "new routes need an entry in ACCESS (who may call them?)"
    assert ACCESS.keys() - routes == set(), "ACCESS lists routes the app no longer has"


@pytest.mark.parametrize("public", [False, True], ids=["keyed-reads", "public-reads-and-events"])
def test_access_matrix(tmp_path: Path, store: Store, public: bool) -> None:
    outcomes: list[str] = []
    mismatches: list[str] = []
    with store_only_client(tmp_path, store, public_reads=public, public_events=public) as client:
        for (method, template), level in sorted(ACCESS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            path = template
            for placeholder, value in PATH_VALUES.items():
                path = path.replace(placeholder, value)
            for caller, (headers, _) in CALLERS.items():
                response = client.request(
                    method,
                    path,
                    headers=headers,
                    params=QUERIES.get((method, template)),
                    json=BODIES.get((method, template)),
                )
                want = expected_status(level, caller, public=public)
                got = response.status_code
                ok = got not in (401, 403) if want == "allowed" else str(got) == want
                if got >= 500 and not (template == "/readyz" and got == 503):  # no model loaded: its real answer
                    ok = False
                if want != "allowed" and ok:
                    assert response.json()["error"]["code"] in ("unauthorized", "forbidden"), response.text
                outcomes.append(f"{method} {template} {caller}: {got}")
                if not ok:
                    mismatches.append(f"{method} {template} as {caller}: want {want}, got {got} {response.text[:120]}")
    assert not mismatches, "\n".join(mismatches)
    assert len(outcomes) == len(ACCESS) * len(CALLERS)
