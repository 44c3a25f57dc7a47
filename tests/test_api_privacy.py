"""The personal-information endpoints over HTTP, on SQLite and PostgreSQL: export and erasure are admin
calls with the one error shape; with KEPU_ID_PEPPER the store never holds a raw client id yet the same
id exports and erases the user; an erasure through one worker makes the other serve a cold start; the
retention job purges on a controlled clock; access logs carry no IPs or user ids."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.log_privacy import AccessLogPrivacyFilter, redact_path
from api.retention import RetentionJob
from api.service_provider import BundleServiceProvider
from content_catalog.store import Store
from content_catalog.store.models import Base
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)
from tests.test_api_support import (
    ADMIN,
    EDITOR,
    INGEST,
    READER,
    api_settings,
    catalog_items,
    shared_trained_db,
)

NOW = datetime.now(UTC)


@contextmanager
def client_for(store: Store, tmp_path: Path, **overrides: object) -> Iterator[TestClient]:
    store.upsert_items(catalog_items(), actor="test")
    settings = api_settings(tmp_path, **overrides)
    app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
    with TestClient(app) as client:
        yield client


def _resident(client: TestClient, user_id: str, session_id: str) -> None:
    body = {"audiences": ["seniors"], "age_band": "60_plus", "town": "沙溪镇", "sessions": [session_id]}
    assert client.put(f"/v1/users/{user_id}", json=body, headers=INGEST).status_code == 201
    at = NOW.isoformat()
    events = [  # event ids are the client's idempotency keys: they must not embed the user id
        {"event_id": "ev-1", "user_id": user_id, "item_id": "health-1", "type": "view", "timestamp": at},
        {"event_id": "ev-2", "session_id": session_id, "item_id": "health-2", "type": "click", "timestamp": at},
    ]
    posted = client.post("/v1/events", json={"events": events}, headers=INGEST)
    assert posted.json()["accepted"] == 2, posted.text


def every_row(store: Store) -> str:
    with store.engine.connect() as connection:
        return "\n".join(str(tuple(r)) for t in Base.metadata.sorted_tables for r in connection.execute(select(t)))


def test_export_and_erase_are_admin_calls(store: Store, tmp_path: Path) -> None:
    with client_for(store, tmp_path) as client:
        _resident(client, "u-77", "tab-77")
        for headers in (EDITOR, INGEST, READER):
            assert client.get("/v1/users/u-77/export", headers=headers).status_code == 403
            assert client.delete("/v1/users/u-77", headers=headers).status_code == 403
            assert client.get("/v1/users/u-77", headers=headers).status_code == 403
        exported = client.get("/v1/users/u-77/export", headers=ADMIN)
        assert exported.status_code == 200
        body = exported.json()
        assert body["profile"]["town"] == "沙溪镇" and [s["session_id"] for s in body["sessions"]] == ["tab-77"]
        assert sorted(e["item_id"] for e in body["events"]) == ["health-1", "health-2"]

        erased = client.delete("/v1/users/u-77", headers=ADMIN)
        assert erased.status_code == 200
        assert erased.json() | {"reference": "-"} == {
            "reference": "-", "found": True, "profile": True, "sessions": 1, "events": 2, "snapshots": 0
        }
        gone = client.get("/v1/users/u-77/export", headers=ADMIN)
        assert gone.status_code == 404
        assert gone.json()["error"]["field"] == "path.user_id"
        assert client.delete("/v1/users/u-77", headers=ADMIN).json()["found"] is False
        assert client.delete("/v1/users/bad id!", headers=ADMIN).status_code == 422
        audit = [e for e in store.audit_log(10) if e.action == "users.erase"]
        assert audit[-1].target == f"erasure:{erased.json()['reference']}"
        assert "u-77" not in str(audit) and "tab-77" not in str(audit)
        assert "u-77" not in every_row(store) and "tab-77" not in every_row(store)


def test_pepper_keeps_raw_client_ids_out_of_the_store(store: Store, tmp_path: Path) -> None:
    with client_for(store, tmp_path, id_pepper="pepper-for-tests") as client:
        _resident(client, "wx-openid-AbC", "wx-tab-9")
        page = client.get("/v1/recommendations", params={"user_id": "wx-openid-AbC", "k": 3}, headers=READER)
        assert page.status_code == 200, page.text
        rows = every_row(store)
        assert "wx-openid-AbC" not in rows and "wx-tab-9" not in rows
        assert client.get("/v1/users/wx-openid-AbC", headers=ADMIN).json()["town"] == "沙溪镇"
        assert len(client.get("/v1/users/wx-openid-AbC/export", headers=ADMIN).json()["events"]) == 2
        assert client.delete("/v1/users/wx-openid-AbC", headers=ADMIN).json()["events"] == 2
        assert client.get("/v1/users/wx-openid-AbC/export", headers=ADMIN).status_code == 404


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps with their own store connections on one trained SQLite file (two uvicorn workers)."""
    db = tmp_path / "kepu.db"
    shutil.copyfile(shared_trained_db(), db)
    settings = api_settings(tmp_path, model_sync_seconds=0)
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            worker_store = Store(f"sqlite:///{db.as_posix()}")
            stack.callback(worker_store.close)
            provider = BundleServiceProvider(worker_store, settings)
            app = create_app(settings, store=worker_store, service_provider=provider)
            clients.append(stack.enter_context(TestClient(app)))
        yield clients[0], clients[1]


def test_erasure_through_one_worker_is_a_cold_start_on_the_other(two_workers: tuple) -> None:
    first, second = two_workers

    def ask(client: TestClient, user_id: str) -> list[tuple[str, float]]:
        response = client.get("/v1/recommendations", params={"user_id": user_id, "k": 5}, headers=READER)
        assert response.status_code == 200, response.text
        return [(card["id"], card["score"]) for card in response.json()["items"]]

    before = ask(second, "u1")
    assert before != ask(second, "stranger-1")
    assert first.delete("/v1/users/u1", headers=ADMIN).json()["found"] is True
    assert ask(second, "u1") == ask(second, "stranger-1")


def test_retention_job_purges_when_due_on_a_controlled_clock(store: Store) -> None:
    from tests.store_fixtures import make_event, make_item

    store.upsert_items([make_item("a")])
    t = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)
    store.add_events([make_event("old", timestamp=t - timedelta(days=31)), make_event("new", timestamp=t)])
    clock = [t]
    job = RetentionJob(store, retention_days=30, interval_seconds=3_600, batch_size=1, clock=lambda: clock[0])
    first = job.tick()
    assert first is not None and first.events == 1 and list(store.events_frame()["event_id"]) == ["new"]
    clock[0] = t + timedelta(minutes=59)
    assert job.tick() is None  # not due yet
    store.add_events([make_event("aging", timestamp=t - timedelta(days=29, hours=23))])
    clock[0] = t + timedelta(hours=1, minutes=1)
    assert job.tick().events == 1  # "aging" is now past 30 days
    assert RetentionJob(store, 0, 3_600).tick() is None  # 0 days = keep forever


def test_the_service_runs_the_purge_off_the_request_path(store: Store, tmp_path: Path) -> None:
    from tests.store_fixtures import make_event

    store.upsert_items(catalog_items(), actor="test")
    store.add_events([make_event("ancient", item_id="health-1", timestamp=NOW - timedelta(days=400))])
    with client_for(store, tmp_path, retention_interval_seconds=3_600, event_retention_days=365) as client:
        job: RetentionJob = client.app.state.retention  # type: ignore[attr-defined]
        assert job.ran.wait(timeout=60) and job.running
        assert store.count_events() == 0
    assert not job.running


def test_access_log_has_no_client_address_or_user_ids() -> None:
    assert redact_path("/v1/recommendations?user_id=wx-1&k=3&session_id=s9") == (
        "/v1/recommendations?user_id=-&k=3&session_id=-"
    )
    assert redact_path("/v1/users/wx-1/export") == "/v1/users/-/export"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None)
    record.args = ("10.1.2.3:5555", "GET", "/v1/recommendations?user_id=wx-1", "1.1", 200)
    AccessLogPrivacyFilter().filter(record)
    assert record.getMessage() == '- - "GET /v1/recommendations?user_id=- HTTP/1.1" 200'
    kept = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s %s %s %d", None, None)
    kept.args = ("10.1.2.3:5555", "GET", "/v1/users/wx-1", "1.1", 200)
    AccessLogPrivacyFilter(keep_user_ids=True).filter(kept)
    assert "10.1.2.3" not in kept.getMessage() and "wx-1" in kept.getMessage()
