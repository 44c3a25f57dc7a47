"""A real uvicorn process on a free port, configured only through KEPU_* variables, called with httpx;
and `--workers 2`, where a feed's pages land on different worker processes and still never repeat."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.test_api_support import ADMIN, INGEST, KEYS, ROOT, free_port, shared_trained_db, uvicorn_server

# Access lines carry the worker's pid, so the test knows which process answered which request.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(process)d %(name)s %(message)s"},
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": "%(process)d ACCESS %(request_line)s %(status_code)s from %(client_addr)s",
        },
    },
    "handlers": {
        "plain": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
        "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["plain"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
ACCESS_LINE = re.compile(r"^(\d+) ACCESS GET (\S+) HTTP/[\d.]+ (\d{3})\b")
STARTED = "Application startup complete."


def test_uvicorn_serves_the_api(tmp_path: Path) -> None:
    with uvicorn_server(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["model"] == "ok (v1)"
        page = http.get("/v1/recommendations", params={"session_id": "s-real", "audience": "seniors", "k": 3})
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) == 3 and body["model_version"] == "v1"
        assert page.headers["x-request-id"] == body["request_id"]
        events = [
            {
                "event_id": f"{body['request_id']}-{i}",
                "session_id": "s-real",
                "item_id": card["id"],
                "type": "impression",
                "position": i,
            }
            for i, card in enumerate(body["items"])
        ]
        posted = http.post("/v1/events", json={"events": events})  # public events (widget)
        assert posted.json() == {"accepted": 3, "duplicates": 0, "erased": 0, "rejected": []}
        assert http.post("/v1/events", json={"events": events}).json()["duplicates"] == 3
        assert http.put("/v1/items/x-1", json={"title": "t"}).status_code == 401
        created = http.put("/v1/items/x-1", json={"title": "防范电信诈骗", "audiences": ["seniors"]}, headers=INGEST)
        assert created.status_code == 201
        swapped = http.post("/v1/models/v2:activate", headers=ADMIN)
        assert swapped.json()["serving"] == "v2"
        assert "kepu_recommendations_served_total" in http.get("/metrics").text


@contextmanager
def uvicorn_workers(tmp_path: Path, workers: int, **env_overrides: str) -> Iterator[tuple[str, Path]]:
    """`python -m uvicorn api.app:create_app --factory --workers N` over a copy of the trained store,
    configured only by KEPU_* variables (no cursor secret: the workers must find the store's). Yields the
    base URL and the log file once every worker has started; stops the process group after."""
    db = tmp_path / "served.db"
    db.write_bytes(shared_trained_db().read_bytes())
    log_config = tmp_path / "log.json"
    log_config.write_text(json.dumps(LOG_CONFIG), encoding="utf-8")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "KEPU_CURSOR_SECRET"}
    env.update(
        {
            "KEPU_STORE_URL": f"sqlite:///{db.as_posix()}",
            "KEPU_VAR_DIR": str(tmp_path / "var"),
            "KEPU_API_KEYS": json.dumps(KEYS),
            "KEPU_PUBLIC_READS": "true",
            "KEPU_ENCODER_DIM": "16",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **env_overrides,
        }
    )
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--workers", str(workers)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-config", str(log_config)]
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text(encoding="utf-8").count(STARTED) < workers:
            if process.poll() is not None:
                raise AssertionError(f"uvicorn exited with {process.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{workers} workers did not start within 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        process.send_signal(signal.SIGINT)  # the supervisor stops its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answered_by(log_path: Path) -> dict[tuple[str, str | None], int]:
    """(session id, cursor or None) of every recommendations request -> pid of the worker that answered."""
    out = {}
    for line in log_path.read_text(encoding="utf-8").splitlines():
        match = ACCESS_LINE.match(line)
        if match and match.group(2).startswith("/v1/recommendations"):
            query = parse_qs(urlsplit(match.group(2)).query)
            out[(query["session_id"][0], query.get("cursor", [None])[0])] = int(match.group(1))
    return out


def test_two_workers_share_cursors(tmp_path: Path) -> None:
    """Each request on a new connection, so the kernel spreads them over both workers; pages follow
    cursors issued by the other worker and never repeat (session ids are kept in the access log here,
    `KEPU_LOG_USER_IDS=true`, to see which worker answered). Feeds are paged until some page was answered
    by another worker than the page before it (almost always the first feed)."""
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with (
        uvicorn_workers(tmp_path, workers=2, KEPU_LOG_USER_IDS="true") as (base, log_path),
        httpx.Client(base_url=base, timeout=30, limits=no_keepalive) as http,
    ):
        hops, feeds = 0, []
        for feed in range(8):
            session, cursor, served, requests = f"feed-{feed}", None, [], []
            while True:
                params = {"session_id": session, "audience": "public", "k": 2}
                response = http.get("/v1/recommendations", params=params | ({"cursor": cursor} if cursor else {}))
                assert response.status_code == 200, f"page {len(requests) + 1} of {session}: {response.text}"
                requests.append((session, cursor))
                served += [card["id"] for card in response.json()["items"]]
                cursor = response.json()["next_cursor"]
                if cursor is None:
                    break
            assert len(served) == len(set(served)) and len(requests) >= 3, (session, served)
            feeds.append(requests)
            time.sleep(0.2)  # let the access lines reach the log
            pids = _answered_by(log_path)
            hops = sum(pids[a] != pids[b] for requests in feeds for a, b in itertools.pairwise(requests))
            if hops:
                break
        assert len(set(_answered_by(log_path).values())) == 2, "both workers should have answered"
        assert hops >= 1, "no page followed a cursor issued by the other worker"


def test_access_log_holds_no_client_address_or_user_ids(tmp_path: Path) -> None:
    """The privacy filter survives uvicorn's own logging set-up in a real worker process."""
    with uvicorn_workers(tmp_path, workers=1) as (base, log_path), httpx.Client(base_url=base, timeout=30) as http:
        params = {"user_id": "wx-secret-openid", "session_id": "wx-secret-tab", "k": 2}
        assert http.get("/v1/recommendations", params=params).status_code == 200
        assert http.get("/v1/users/wx-secret-openid/export").status_code == 401
    log = log_path.read_text(encoding="utf-8")  # complete: the server has stopped
    access = [line for line in log.splitlines() if " ACCESS " in line]
    assert len(access) == 2, log
    assert "wx-secret" not in log and all(line.endswith(" from -") for line in access), log
    assert "/v1/recommendations?user_id=-&session_id=-&k=2" in access[0]
