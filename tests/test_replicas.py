"""Replicas past one machine, for real: two `uvicorn` API processes (as two hosts would run them) on ONE
PostgreSQL store and one shared artifact folder (`KEPU_VAR_DIR`: model bundles, index files), and Debian's
nginx load-balancing over them round-robin.

What must hold across replicas (issue 8, "Past one machine"): events written through one replica are in the
history every replica reads; a model activated through one replica is served by every replica within
`model_sync_seconds` (each replica's background sync; polled here with a bounded deadline, never a sleep
that guesses); a feed cursor issued by one replica pages on another without repeats, also when nginx picks
the replica. One trained store per module keeps the file to a few seconds after start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from content_catalog.catalog_index import embed_catalog
from content_catalog.store import Store
from recommender.registry import load_bundle, register
from tests.store_fixtures import PostgresDatabases, pg_databases_fixture  # noqa: F401
from tests.test_api_support import (
    ADMIN,
    INGEST,
    KEYS,
    READER,
    ROOT,
    catalog_items,
    free_port,
    served,
    shared_trained_db,
    simulated_events,
    wait_until_answering,
)

pytestmark = pytest.mark.postgres

SYNC_SECONDS = 0.3
"""Each replica's background model check: short, so an activation propagates within a second."""
DEADLINE_SECONDS = 20.0
"""Bound on waiting for a replica to follow the store (generous for a loaded 2-core machine)."""
NGINX = Path("/usr/sbin/nginx")
ENCODER = "tfidf-svd"
"""The light encoder: replicas start without loading a neural model (the test is about sharing, not text)."""


@dataclass
class Replicas:
    """Base URLs of the replicas (and of nginx in front of them, when nginx is installed)."""

    urls: list[str]
    store: Store
    balancer: str | None


def _trained_postgres_store(url: str, var_dir: Path) -> Store:
    """The small catalog, users and events on the shared PostgreSQL store, with bundles v1 (active) and v2
    in the shared artifact folder: the API tests' trained bundles (trained once per test process on the same
    catalog, users and events), copied and registered here rather than trained again."""
    store = Store(url)
    items = catalog_items()
    store.upsert_items(items, actor="test")
    users, events = simulated_events(items)
    for user in users:
        store.upsert_user(user)
    store.add_events(events)
    trained = shared_trained_db().parent / "models"
    for version in ("v1", "v2"):
        shutil.copytree(trained / version, var_dir / "models" / version)
        register(store, load_bundle(var_dir / "models" / version))
    store.activate_model_version("v1")
    return store


def _nginx_config(folder: Path, port: int, upstreams: list[str]) -> Path:
    """One nginx process (no master/worker split, no user switch) round-robin over the replicas."""
    servers = "\n".join(f"        server {u.removeprefix('http://')};" for u in upstreams)
    config = folder / "nginx.conf"
    config.write_text(
        f"""daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream kepu {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://kepu;
            proxy_set_header Host $host;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
""",
        encoding="utf-8",
    )
    return config


@contextmanager
def _nginx(folder: Path, upstreams: list[str]) -> Iterator[str]:
    folder.mkdir()
    port = free_port()
    config = _nginx_config(folder, port, upstreams)
    command = [str(NGINX), "-p", str(folder), "-c", str(config)]
    with served(command, dict(os.environ), folder / "nginx.out", port, "nginx") as base:
        yield base


def _replica_env(raw_url: str, var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KEPU_STORE_URL": raw_url,
        "KEPU_VAR_DIR": str(var_dir),
        "KEPU_API_KEYS": json.dumps(KEYS),
        "KEPU_ENCODER": ENCODER,
        "KEPU_ENCODER_DIM": "16",
        "KEPU_MODEL_SYNC_SECONDS": str(SYNC_SECONDS),
        "KEPU_RETENTION_INTERVAL_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


@contextmanager
def _started_together(env: dict[str, str], folder: Path, n: int) -> Iterator[list[str]]:
    """Start `n` replicas at once (as hosts restarting together would) and wait until each is ready."""
    with ExitStack() as stack:
        urls, processes = [], []
        stack.callback(_stop_all, processes)
        for k in range(n):
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
            log = stack.enter_context((folder / f"replica-{k}.log").open("w+", encoding="utf-8"))
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            processes.append(process)
            urls.append((f"http://127.0.0.1:{port}", process, log))
        for base, process, log in urls:
            wait_until_answering(process, log, f"{base}/readyz", f"replica {base}")  # model loaded, catalog warm
        yield [base for base, _, _ in urls]


def _stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGINT to every replica first, then wait for each (they shut down in parallel)."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, pg_databases: PostgresDatabases) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp("replicas")
    var_dir = root / "shared-var"
    url = pg_databases.create(migrated=True)
    raw_url = url.render_as_string(hide_password=False)
    store = _trained_postgres_store(raw_url, var_dir)
    settings = ApiSettings(store_url=raw_url, var_dir=var_dir, encoder=ENCODER, encoder_dim=16)
    embed_catalog(store, settings)  # `kepu catalog embed` once, before the replicas start
    try:
        with _started_together(_replica_env(raw_url, var_dir), root, 2) as urls, ExitStack() as stack:
            balancer = stack.enter_context(_nginx(root / "nginx", urls)) if NGINX.is_file() else None
            yield Replicas(urls=urls, store=store, balancer=balancer)
    finally:
        store.close()
        pg_databases.drop(url)


def _ids(page: dict) -> list[str]:
    return [card["id"] for card in page["items"]]


def _recommend(base: str, params: dict) -> dict:
    response = httpx.get(f"{base}/v1/recommendations", params=params, headers=READER, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_events_written_through_one_replica_are_history_on_the_other(replicas: Replicas) -> None:
    first, second = replicas.urls
    params = {"user_id": "u0", "k": 3}
    before = _ids(_recommend(second, params))
    assert before, "the trained user gets recommendations"
    events = [
        {"event_id": f"replica-read-{n}", "user_id": "u0", "item_id": item_id, "type": "complete"}
        for n, item_id in enumerate(before[:2])
    ]
    response = httpx.post(f"{first}/v1/events", json={"events": events}, headers=INGEST, timeout=30)
    assert response.json()["accepted"] == 2, response.text
    after = _ids(_recommend(second, params))
    assert not set(before[:2]) & set(after), (before, after)  # read items are excluded on the other replica
    assert _ids(_recommend(first, params)) == after  # and both replicas rank the same way


def _poll(check: Callable[[], bool], what: str) -> float:
    """Seconds until `check()` holds; fails after DEADLINE_SECONDS."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < DEADLINE_SECONDS, f"{what} not within {DEADLINE_SECONDS} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_activation_through_one_replica_reaches_every_replica(replicas: Replicas) -> None:
    first, second = replicas.urls

    def serving(base: str) -> str:
        return str(httpx.get(f"{base}/v1/models", headers=ADMIN, timeout=30).json()["serving"])

    current = serving(first)
    target = "v2" if current == "v1" else "v1"
    response = httpx.post(f"{first}/v1/models/{target}:activate", headers=ADMIN, timeout=30)
    assert response.json()["serving"] == target, response.text
    assert serving(first) == target  # the replica that answered swaps at once
    _poll(lambda: serving(second) == target, f"replica 2 serving {target}")
    assert _recommend(second, {"audience": "youth"})["model_version"] == target


def _page_through(next_base: Callable[[int], str], params: dict) -> tuple[list[str], int]:
    page, served_ids, n = _recommend(next_base(0), params), [], 1
    served_ids += _ids(page)
    while page["next_cursor"]:
        page = _recommend(next_base(n), params | {"cursor": page["next_cursor"]})
        served_ids += _ids(page)
        n += 1
    return served_ids, n


def test_a_cursor_from_one_replica_pages_on_the_other_without_repeats(replicas: Replicas) -> None:
    served_ids, pages = _page_through(lambda n: replicas.urls[n % 2], {"session_id": "s-replicas", "k": 2})
    assert pages >= 3 and len(served_ids) == len(set(served_ids)), served_ids


@pytest.mark.skipif(not NGINX.is_file(), reason="Debian's nginx is not installed")
def test_paging_behind_nginx_uses_both_replicas_without_repeats(replicas: Replicas) -> None:
    assert replicas.balancer is not None
    upstreams = set()
    page, served_ids, n = None, [], 0
    params: dict = {"session_id": "s-nginx", "audience": "public", "k": 2}
    while n == 0 or (page and page["next_cursor"]):
        query = params if page is None else params | {"cursor": page["next_cursor"]}
        response = httpx.get(f"{replicas.balancer}/v1/recommendations", params=query, headers=READER, timeout=30)
        assert response.status_code == 200, response.text
        upstreams.add(response.headers["X-Upstream"])
        page = response.json()
        served_ids += _ids(page)
        n += 1
    assert n >= 3 and len(served_ids) == len(set(served_ids)), served_ids
    assert upstreams == {u.removeprefix("http://") for u in replicas.urls}  # round-robin used both


def test_replicas_share_one_store_and_artifact_folder(replicas: Replicas) -> None:
    """Guard against a replica silently running on its own store: an item written through nginx (or
    the first replica) is readable through every replica at once."""
    writer = replicas.balancer or replicas.urls[0]
    item = {"title": "海绵城市：下雨时城市怎样像海绵一样吸水", "topics": ["ecology"], "audiences": ["public"]}
    assert httpx.put(f"{writer}/v1/items/replica-item", json=item, headers=ADMIN, timeout=30).status_code == 201
    for base in replicas.urls:
        response = httpx.get(f"{base}/v1/items/replica-item", headers=READER, timeout=30)
        assert response.status_code == 200 and response.json()["title"] == item["title"]
