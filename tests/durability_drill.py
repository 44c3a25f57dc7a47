"""The event-durability drill shared by tests/test_durability.py (small) and bench/durability.py (16 clients,
50,000 events): concurrent clients post event batches with in-batch duplicates and replays of acknowledged
batches to a real uvicorn process, which is SIGKILLed mid-run and restarted on the same store. A client
keeps re-sending a batch until it gets a 200, as the museum widget does. Afterwards the store must hold
exactly the acknowledged event ids, each once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.test_api_support import CATALOG, KEYS, ROOT, free_port

ITEM_IDS = [record["id"] for record in CATALOG]
INGEST_KEY = "ingest-key-1"


@dataclass
class DrillResult:
    """Counts of one run; `lost` and `doubled` must be empty."""

    backend: str
    clients: int
    events_sent: int = 0  # distinct event ids in the generated batches
    posts: int = 0  # POST /v1/events calls made (retries and replays included)
    failed_posts: int = 0  # calls that got no 200 (server killed or restarting) and were re-sent
    replays: int = 0  # acknowledged batches sent again on purpose
    acknowledged: int = 0  # distinct event ids in batches answered 200
    stored: int = 0  # rows in the events table
    kills: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, not stored
    unacknowledged_stored: list[str] = field(default_factory=list)  # stored, never acknowledged
    doubled: int = 0  # rows beyond one per event id
    seconds: float = 0.0

    def as_row(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "clients": self.clients,
            "events sent": self.events_sent,
            "posts": self.posts,
            "failed posts": self.failed_posts,
            "replays": self.replays,
            "acknowledged": self.acknowledged,
            "stored": self.stored,
            "lost": len(self.lost),
            "doubled": self.doubled,
            "kills": self.kills,
            "seconds": round(self.seconds, 1),
        }


class ServerProcess:
    """`python -m uvicorn api.app:create_app --factory` on one port, killed with SIGKILL and restarted."""

    def __init__(self, store_url: str, var_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "KEPU_STORE_URL": store_url,
            "KEPU_VAR_DIR": str(var_dir),
            "KEPU_API_KEYS": json.dumps(KEYS),
            "KEPU_ENCODER_DIM": "16",
            "KEPU_MAX_EVENTS_PER_BATCH": "1000",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        with self.log_path.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"uvicorn exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"uvicorn did not answer /healthz within {timeout} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, open transactions die with the process."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def client_batches(client: int, batches: int, batch_size: int, seed: int) -> list[list[dict[str, Any]]]:
    """A client's batches: fresh events, plus in-batch repeats and ids from its earlier batches."""
    rng = random.Random(seed * 1000 + client)
    made: list[dict[str, Any]] = []
    out: list[list[dict[str, Any]]] = []
    for b in range(batches):
        batch = []
        for i in range(batch_size):
            if made and rng.random() < 0.1:
                batch.append(rng.choice(made))  # an event this client sent before: a duplicate
            else:
                event = {
                    "event_id": f"c{client}-b{b}-e{i}",
                    "session_id": f"s{client}",
                    "item_id": rng.choice(ITEM_IDS),
                    "type": rng.choice(["impression", "click", "view"]),
                }
                made.append(event)
                batch.append(event)
        if rng.random() < 0.2:
            batch.append(batch[0])  # the same event twice in one batch
        out.append(batch)
    return out


def _post_until_acknowledged(
    http: httpx.Client, base: list[str], batch: list[dict[str, Any]], result: DrillResult, lock: threading.Lock
) -> None:
    headers = {"X-API-Key": INGEST_KEY}
    while True:
        try:
            response = http.post(f"{base[0]}/v1/events", json={"events": batch}, headers=headers, timeout=30)
        except httpx.TransportError:
            response = None
        with lock:
            result.posts += 1
        if response is not None and response.status_code == 200:
            body = response.json()
            if body["rejected"] or body["accepted"] + body["duplicates"] != len(batch):
                raise AssertionError(f"unexpected answer {body} for a batch of {len(batch)}")
            return
        with lock:
            result.failed_posts += 1
        time.sleep(0.05)  # the server is being killed or restarting: retry the same batch


def run_drill(
    store_url: str,
    work_dir: Path,
    *,
    backend: str,
    clients: int,
    batches_per_client: int,
    batch_size: int,
    kills: int = 1,
    seed: int = 0,
) -> DrillResult:
    """Run the drill against a store already holding the CATALOG items; returns the counts."""
    work_dir.mkdir(parents=True, exist_ok=True)
    result = DrillResult(backend=backend, clients=clients)
    plans = [client_batches(c, batches_per_client, batch_size, seed) for c in range(clients)]
    result.events_sent = len({e["event_id"] for plan in plans for batch in plan for e in batch})
    total_batches = clients * batches_per_client
    acknowledged: set[str] = set()
    lock = threading.Lock()
    done_batches = [0]
    server = ServerProcess(store_url, work_dir / "var", work_dir / "uvicorn.log")
    base = [server.base]
    errors: list[BaseException] = []
    started = time.perf_counter()

    def client(index: int) -> None:
        rng = random.Random(seed * 7919 + index)
        try:
            with httpx.Client() as http:
                sent: list[list[dict[str, Any]]] = []
                for batch in plans[index]:
                    _post_until_acknowledged(http, base, batch, result, lock)
                    sent.append(batch)
                    with lock:
                        acknowledged.update(e["event_id"] for e in batch)
                        done_batches[0] += 1
                    if rng.random() < 0.1:  # replay an acknowledged batch, as a retrying browser would
                        _post_until_acknowledged(http, base, rng.choice(sent), result, lock)
                        with lock:
                            result.replays += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    server.start()
    try:
        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
        for thread in threads:
            thread.start()
        for k in range(kills):
            target = total_batches * (k + 1) // (kills + 1)
            while done_batches[0] < target and any(t.is_alive() for t in threads):
                time.sleep(0.01)
            server.kill()
            result.kills += 1
            server.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    result.seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    stored_ids, rows = stored_event_ids(store_url)
    result.acknowledged = len(acknowledged)
    result.stored = rows
    result.doubled = rows - len(stored_ids)
    result.lost = sorted(acknowledged - stored_ids)
    result.unacknowledged_stored = sorted(stored_ids - acknowledged)
    return result


def stored_event_ids(store_url: str) -> tuple[set[str], int]:
    """Distinct event ids in the store and the number of rows (read with plain SQL, not the app)."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT event_id FROM events"))]
    finally:
        engine.dispose()
    return set(ids), len(ids)
