"""Issue 9 defects 8 and 9: /readyz and /metrics report the store's active model version without waiting
for a recommendation (and a light background check keeps idle workers current); a corrupt active
bundle at restart falls back to the newest valid version, said in /readyz and the log."""

from __future__ import annotations

import json
import logging
import queue
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

HOUR = 3_600.0  # a sync interval no test waits for: only the forced syncs can be what it sees


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "kepu.db"
    shutil.copyfile(shared_trained_db(), path)
    return path


@pytest.fixture
def two_workers(tmp_path: Path, db: Path) -> Iterator[tuple[TestClient, TestClient]]:
    settings = api_settings(tmp_path, model_sync_seconds=HOUR)
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            store = Store(f"sqlite:///{db.as_posix()}")
            stack.callback(store.close)
            app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
            clients.append(stack.enter_context(TestClient(app)))
        yield clients[0], clients[1]


def test_idle_worker_reports_the_new_version_at_once(two_workers: tuple[TestClient, TestClient]) -> None:
    first, idle = two_workers
    assert idle.get("/readyz").json()["checks"]["model"] == "ok (v1)"
    assert first.post("/v1/models/v2:activate", headers=ADMIN).status_code == 200
    assert idle.get("/readyz").json()["checks"]["model"] == "ok (v2)"  # no recommendation served before
    assert 'kepu_active_model_info{version="v2"} 1.0' in idle.get("/metrics").text
    page = idle.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
    assert page["model_version"] == "v2"


def test_background_check_follows_the_store_on_its_own(tmp_path: Path, db: Path) -> None:
    settings = api_settings(tmp_path, model_sync_seconds=HOUR)
    store = Store(f"sqlite:///{db.as_posix()}")
    provider = BundleServiceProvider(store, settings)
    ticks: queue.Queue[bool] = queue.Queue()
    paused: queue.Queue[None] = queue.Queue()

    def wait(_: float) -> bool:  # the test decides when the interval has passed, and when to stop
        paused.put(None)
        return ticks.get(timeout=60)

    try:
        provider.current()
        provider.start_background_sync(wait=wait)
        paused.get(timeout=60)
        store.activate_model_version("v2", actor="other-worker")
        assert provider.version() == "v1"  # nothing checked yet
        ticks.put(False)  # one interval passes
        paused.get(timeout=60)  # the loop checked the store and is waiting again
        assert provider.version() == "v2"
        ticks.put(True)
    finally:
        provider.close()
        store.close()


def corrupt_copy(store: Store, tmp_path: Path, version: str) -> None:
    """Register `version` as a copy of v2 whose arrays no longer match their checksums, and activate it."""
    source = Path(next(m.path for m in store.list_model_versions() if m.version == "v2"))
    broken = tmp_path / f"broken-{version}"
    shutil.copytree(source, broken)
    manifest = json.loads((broken / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = version
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    store.add_model_version(version, str(broken), manifest=manifest, checksum=None)
    store.activate_model_version(version)
    popularity = broken / "popularity.npy"
    popularity.write_bytes(popularity.read_bytes()[:-4] + b"\x00\x00\x80\x7f")


def test_corrupt_active_bundle_falls_back_to_newest_valid(
    tmp_path: Path, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(f"sqlite:///{db.as_posix()}") as store:
        corrupt_copy(store, tmp_path, "v3")
    settings = api_settings(tmp_path, model_sync_seconds=HOUR)
    store = Store(f"sqlite:///{db.as_posix()}")
    try:
        app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
        with caplog.at_level(logging.WARNING), TestClient(app) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            model = ready.json()["checks"]["model"]
            assert model.startswith("ok (v2)") and "'v3' failed to load" in model and "newest valid" in model
            assert client.get("/v1/models", headers=ADMIN).json()["serving"] == "v2"
            page = client.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
            assert page["model_version"] == "v2"
        assert "serving the newest valid version 'v2'" in caplog.text
        assert store.active_model_version().version == "v3"  # the operator's choice is not rewritten
    finally:
        store.close()
