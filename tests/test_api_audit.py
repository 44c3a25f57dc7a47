"""Every editor/admin write through the API leaves exactly one audit row, under the caller's actor name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from content_catalog.store import AuditEntry, Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, shared_trained_db, trained_client


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    with trained_client(shared_trained_db(), tmp_path) as pair:
        yield pair


def _one_audit_row(store: Store, action: Callable[[], httpx.Response], status: int) -> AuditEntry:
    before = {e.id for e in store.audit_log(limit=10_000)}
    response = action()
    assert response.status_code == status, response.text
    new = [e for e in store.audit_log(limit=10_000) if e.id not in before]
    assert len(new) == 1, f"expected one audit row, got {[(e.action, e.target) for e in new]}"
    return new[0]


def test_each_write_is_audited_exactly_once_with_the_callers_actor(app: tuple[TestClient, Store]) -> None:
    client, store = app
    editor, admin, ingest = "editor:edit…", "admin:admi…", "ingest:inge…"

    rule = {"kind": "pin", "item_id": "fraud-1", "position": 0, "audience": "seniors"}
    added = _one_audit_row(store, lambda: client.post("/v1/rules", json=rule, headers=EDITOR), 201)
    assert (added.action, added.actor, added.payload["item_id"]) == ("rules.add", editor, "fraud-1")
    rule_id = int(added.target.split(":")[1])
    removed = _one_audit_row(store, lambda: client.delete(f"/v1/rules/{rule_id}", headers=EDITOR), 204)
    assert (removed.action, removed.actor, removed.target) == ("rules.delete", editor, f"rule:{rule_id}")

    tags = {"audiences": ["seniors", "public"]}
    retagged = _one_audit_row(store, lambda: client.put("/v1/items/ai-1/audiences", json=tags, headers=EDITOR), 200)
    assert (retagged.action, retagged.actor, retagged.target) == ("items.set_audiences", editor, "item:ai-1")

    experiment = {"name": "fresh", "variants": [{"name": "a"}, {"name": "b", "params": {"freshness_weight": 0.6}}]}
    upserted = _one_audit_row(store, lambda: client.post("/v1/experiments", json=experiment, headers=ADMIN), 201)
    assert (upserted.action, upserted.actor) == ("experiments.upsert", admin)
    assert upserted.payload["params"] == {"a": {}, "b": {"freshness_weight": 0.6}}

    activated = _one_audit_row(store, lambda: client.post("/v1/models/v2:activate", headers=ADMIN), 200)
    assert (activated.action, activated.actor, activated.target) == ("models.activate", admin, "model:v2")

    item = {"title": "家庭用电安全十问", "audiences": ["seniors"]}
    written = _one_audit_row(store, lambda: client.put("/v1/items/new-1", json=item, headers=INGEST), 201)
    assert (written.action, written.actor) == ("items.upsert", ingest)
    deleted = _one_audit_row(store, lambda: client.delete("/v1/items/new-1", headers=INGEST), 204)
    assert (deleted.action, deleted.actor, deleted.target) == ("items.delete", ingest, "item:new-1")


def test_refused_writes_leave_no_audit_row(app: tuple[TestClient, Store]) -> None:
    client, store = app
    before = len(store.audit_log(limit=10_000))
    assert client.post("/v1/models/v9:activate", headers=ADMIN).status_code == 404
    assert client.post("/v1/models/v2:activate", headers=EDITOR).status_code == 403
    bad = {"name": "x", "variants": [{"name": "a", "params": {"model_version": "v9"}}]}
    assert client.post("/v1/experiments", json=bad, headers=ADMIN).status_code == 422
    assert len(store.audit_log(limit=10_000)) == before
