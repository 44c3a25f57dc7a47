"""Shared fixtures for the API tests: a tmp SQLite store with a small Chinese catalog, keyed settings,
and (when asked) a small trained model so recommendation endpoints run the real service.

Kept in a test_api* module (the API helper owns those); it defines fixtures and helpers only.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.service_provider import BundleServiceProvider
from api.settings import ApiSettings
from content_catalog.schema import Event, Item, User
from content_catalog.store import Store
from recommender.train import TrainParams, train_bundle

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"admin-key-1": "admin", "editor-key-1": "editor", "ingest-key-1": "ingest", "reader-key-1": "reader"}
ADMIN = {"X-API-Key": "admin-key-1"}
EDITOR = {"X-API-Key": "editor-key-1"}
INGEST = {"X-API-Key": "ingest-key-1"}
READER = {"X-API-Key": "reader-key-1"}

NOW = datetime.now(UTC)
_PUBLISHED = NOW - timedelta(days=30)

CATALOG: list[dict] = [
    {
        "id": "seed-1",
        "title": "水稻病虫害绿色防控技术",
        "summary": "稻飞虱、稻纵卷叶螟的识别与生物防治",
        "topics": ["agri_tech"],
        "format": "video",
        "audiences": ["farmers"],
    },
    {
        "id": "seed-2",
        "title": "智慧农业：无人机植保入门",
        "summary": "植保无人机作业规范与安全",
        "topics": ["smart_agriculture", "agri_tech"],
        "format": "course",
        "audiences": ["farmers"],
    },
    {
        "id": "seed-3",
        "title": "果蔬大棚的温湿度管理",
        "summary": "传感器与自动通风让大棚增产",
        "topics": ["smart_agriculture"],
        "format": "article",
        "audiences": ["farmers"],
    },
    {
        "id": "health-1",
        "title": "老年人如何预防跌倒",
        "summary": "居家防跌倒的十个小改造",
        "topics": ["health"],
        "format": "article",
        "audiences": ["seniors"],
    },
    {
        "id": "health-2",
        "title": "高血压患者的日常饮食",
        "summary": "低盐饮食与规律服药",
        "topics": ["health", "food_drug_safety"],
        "format": "video",
        "audiences": ["seniors"],
    },
    {
        "id": "fraud-1",
        "title": "识破保健品骗局",
        "summary": "常见养生骗局套路与防范方法",
        "topics": ["anti_fraud_rumor"],
        "format": "article",
        "audiences": ["seniors", "public"],
    },
    {
        "id": "space-1",
        "title": "中国空间站的一天",
        "summary": "航天员在轨生活与科学实验",
        "topics": ["aerospace"],
        "format": "video",
        "audiences": ["youth"],
    },
    {
        "id": "space-2",
        "title": "自己动手做水火箭",
        "summary": "用塑料瓶探究反冲原理",
        "topics": ["aerospace", "basic_science"],
        "format": "activity",
        "audiences": ["youth"],
    },
    {
        "id": "ai-1",
        "title": "人工智能是怎样学习的",
        "summary": "从识别猫狗图片讲到神经网络",
        "topics": ["ai"],
        "format": "article",
        "audiences": ["youth", "public"],
    },
    {
        "id": "safety-1",
        "title": "车间机械伤害事故预防",
        "summary": "冲压与切割设备的安全操作",
        "topics": ["work_safety"],
        "format": "video",
        "audiences": ["workers"],
    },
    {
        "id": "mfg-1",
        "title": "工业机器人操作基础",
        "summary": "示教编程与日常维护",
        "topics": ["advanced_manufacturing"],
        "format": "course",
        "audiences": ["workers"],
    },
    {
        "id": "carbon-1",
        "title": "双碳目标与城市治理",
        "summary": "领导干部需要了解的能源转型知识",
        "topics": ["energy_carbon"],
        "format": "article",
        "audiences": ["officials"],
    },
]


def catalog_items() -> list[Item]:
    return [Item.model_validate({**record, "published_at": _PUBLISHED}) for record in CATALOG]


def api_settings(tmp_path: Path, **overrides: object) -> ApiSettings:
    """Settings for a tmp store; keys configured, reads keyed unless overridden."""
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "store_url": f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}",
        "api_keys": KEYS,
        "public_reads": False,
        "max_body_bytes": 64 * 1024,
        "encoder_dim": 16,
        "retention_interval_seconds": 0,  # no background purge unless a test drives it
    }
    values.update(overrides)
    return ApiSettings(**values)


def simulated_events(items: list[Item], n_users: int = 6) -> tuple[list[User], list[Event]]:
    """A few users per audience who read items of their audience (deterministic, tiny)."""
    users: list[User] = []
    events: list[Event] = []
    audiences = ["farmers", "seniors", "youth", "workers"]
    for u in range(n_users):
        audience = audiences[u % len(audiences)]
        user = User(id=f"u{u}", audiences=[audience])
        users.append(user)
        mine = [it for it in items if audience in {t.audience for t in it.audiences}]
        for j, item in enumerate(mine):
            events.append(
                Event(
                    event_id=f"seed-{u}-{j}",
                    user_id=user.id,
                    item_id=item.id,
                    type="view",
                    timestamp=NOW - timedelta(days=5, minutes=u * 10 + j),
                    channel="web",
                )
            )
    return users, events


def make_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}")
    store.upsert_items(catalog_items(), actor="test")
    return store


@contextmanager
def store_only_client(tmp_path: Path, store: Store, **overrides: object) -> Iterator[TestClient]:
    """App over the tmp store with no model loaded (store-only endpoints)."""
    settings = api_settings(tmp_path, **overrides)
    app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
    with TestClient(app) as c:
        yield c


SMALL_TRAINING = TrainParams(no_components=8, epochs=3, n_text_clusters=3, holdout_fraction=0.2)


def trained_store_file(folder: Path) -> Path:
    """A SQLite store with the catalog, a few users and events, and two trained, registered bundles
    (`v1` active, `v2` registered). Built once per test module; tests open copies of the file."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "trained.db"
    store = Store(f"sqlite:///{db.as_posix()}")
    items = catalog_items()
    store.upsert_items(items, actor="test")
    users, events = simulated_events(items)
    for user in users:
        store.upsert_user(user)
    store.add_events(events)
    settings = api_settings(folder)
    for version, seed in (("v1", 1), ("v2", 2)):
        train_bundle(store, settings.encoder, folder / "models", seed, params=SMALL_TRAINING, version=version)
    store.activate_model_version("v1")
    store.close()
    return db


@contextmanager
def trained_client(template_db: Path, tmp_path: Path, **overrides: object) -> Iterator[tuple[TestClient, Store]]:
    """A client over a private copy of the trained store, serving the active bundle."""
    db = tmp_path / "kepu.db"
    shutil.copyfile(template_db, db)
    store = Store(f"sqlite:///{db.as_posix()}")
    settings = api_settings(tmp_path, **overrides)
    app = create_app(settings, store=store, service_provider=BundleServiceProvider(store, settings))
    try:
        with TestClient(app) as c:
            yield c, store
    finally:
        store.close()


@functools.cache
def shared_trained_db() -> Path:
    """One trained template store per test process (training twice costs seconds; tests copy it)."""
    folder = Path(tempfile.mkdtemp(prefix="kepu-api-trained-"))
    atexit.register(shutil.rmtree, folder, True)
    return trained_store_file(folder)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(tmp_path: Path, **env_overrides: str) -> Iterator[str]:
    """Start `uvicorn api.app:create_app --factory` on a free port over a copy of the trained store,
    configured only through KEPU_* variables; yields the base URL and stops the process after."""
    db = tmp_path / "served.db"
    shutil.copyfile(shared_trained_db(), db)
    port = free_port()
    env = {
        **os.environ,
        "KEPU_STORE_URL": f"sqlite:///{db.as_posix()}",
        "KEPU_VAR_DIR": str(tmp_path / "var"),
        "KEPU_API_KEYS": json.dumps(KEYS),
        "KEPU_PUBLIC_READS": "true",
        "KEPU_PUBLIC_EVENTS": "true",
        "KEPU_ENCODER_DIM": "16",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **env_overrides,
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with served(command, env, tmp_path / "uvicorn.log", port, "uvicorn") as base:
        yield base


def wait_until_answering(
    process: subprocess.Popen, log: IO[str], url: str, name: str, request_timeout: float = 5.0
) -> None:
    """Poll `url` until it answers 200 (start-up time is the machine's: bounded at 90 s, asserted nothing
    about); a process that exits first fails with its log."""
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{name} exited with {process.returncode}:\n{log.read()}")
        try:
            if httpx.get(url, timeout=request_timeout).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not answer {url} within 90 s")
        time.sleep(0.2)


@contextmanager
def served(command: list[str], env: dict[str, str], log_path: Path, port: int, name: str) -> Iterator[str]:
    """Run a server `command` from the repository root, wait until it answers /healthz on `port` (start-up
    time is the machine's: the tests assert nothing about it), yield its base URL, then stop it with SIGINT."""
    log = log_path.open("w+", encoding="utf-8")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, log, f"{base}/healthz", name, request_timeout=1.0)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
