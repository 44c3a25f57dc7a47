"""Model swaps under load: while a client hammers recommendations on a real uvicorn process, an admin
activates a good version, a corrupt one and one trained on another catalog. Every recommendation request
succeeds, the two bad versions are refused with a clear 409, and the last good version keeps serving."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx

from api.settings import ApiSettings
from content_catalog.schema import Item
from content_catalog.store import Store
from recommender.registry import load_bundle, register
from recommender.train import train_bundle
from tests.test_api_support import (
    ADMIN,
    CATALOG,
    READER,
    SMALL_TRAINING,
    api_settings,
    simulated_events,
    uvicorn_server,
)


def corrupt_copy(store: Store, source_version: str, version: str, models: Path) -> None:
    """Register a copy of a good bundle as `version`, then damage one of its arrays (as a bad disk would)."""
    record = {v.version: v for v in store.list_model_versions()}[source_version]
    folder = models / version
    shutil.copytree(record.path, folder)
    bundle = load_bundle(folder)
    store.add_model_version(version, str(folder), manifest=bundle.manifest, checksum=bundle.checksum)
    target = max(folder.rglob("*.npy"), key=lambda path: path.stat().st_size)  # any array the bundle format has
    data = bytearray(target.read_bytes())
    data[-8:] = b"\xff" * 8
    target.write_bytes(bytes(data))


def foreign_catalog_version(store: Store, version: str, work: Path, settings: ApiSettings) -> None:
    """Train a real bundle on another catalog (same texts, other ids) and register it in `store`."""
    other = Store(f"sqlite:///{(work / 'other.db').as_posix()}")
    try:
        items = [Item.model_validate({**record, "id": f"other-{record['id']}"}) for record in CATALOG]
        other.upsert_items(items, actor="test")
        users, events = simulated_events(items)
        for user in users:
            other.upsert_user(user)
        other.add_events(events)
        bundle = train_bundle(other, settings.encoder, work / "models", 3, params=SMALL_TRAINING, version=version)
    finally:
        other.close()
    register(store, bundle)


def test_swaps_under_load_never_fail_a_request(tmp_path: Path) -> None:
    with uvicorn_server(tmp_path, KEPU_MODEL_SYNC_SECONDS="0") as base:
        store = Store(f"sqlite:///{(tmp_path / 'served.db').as_posix()}")
        try:
            corrupt_copy(store, "v2", "v3-corrupt", tmp_path)
            foreign_catalog_version(store, "v4-foreign", tmp_path, api_settings(tmp_path))
        finally:
            store.close()
        answers: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=base, headers=READER, timeout=30) as http:
                n = 0
                while not stop.is_set() or n < 20:
                    audience = ["seniors", "farmers", "youth"][n % 3]
                    params = {"session_id": f"load-{n % 7}", "audience": audience, "k": 3}
                    response = http.get("/v1/recommendations", params=params)
                    body = response.json()
                    answers.append((response.status_code, body.get("model_version")))
                    n += 1

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            with httpx.Client(base_url=base, headers=ADMIN, timeout=60) as admin:
                good = admin.post("/v1/models/v2:activate")
                assert good.status_code == 200 and good.json()["serving"] == "v2", good.text
                corrupt = admin.post("/v1/models/v3-corrupt:activate")
                assert corrupt.status_code == 409, corrupt.text
                assert corrupt.json()["error"]["code"] == "bundle_invalid"
                assert "sha256 mismatch" in corrupt.json()["error"]["message"]
                foreign = admin.post("/v1/models/v4-foreign:activate")
                assert foreign.status_code == 409, foreign.text
                assert "trained on another catalog" in foreign.json()["error"]["message"]
                models = admin.get("/v1/models").json()
                ready = admin.get("/readyz").json()
        finally:
            stop.set()
            thread.join()
        active = [m["version"] for m in models["models"] if m["active"]]
        assert active == ["v2"] and models["serving"] == "v2", models
        assert ready["checks"]["model"] == "ok (v2)"
        failed = [a for a in answers if a[0] != 200]
        assert not failed, f"{len(failed)} of {len(answers)} requests failed during swaps: {failed[:5]}"
        served = {version for _, version in answers}
        assert served <= {"v1", "v2"} and answers[-1][1] == "v2", served
        print(f"requests during swaps: {len(answers)}, failed: 0, versions served: {sorted(served)}")
