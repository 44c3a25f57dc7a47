"""Issue 9 defect 7: an over-long query string gets the JSON error shape from a real `kepu serve`
(uvicorn over a socket), never uvicorn's plain-text 400, and the server keeps serving."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx

from api.http_protocol import MAX_HEAD_BYTES
from tests.test_api_support import KEYS, free_port, make_store, served


@contextmanager
def kepu_serve(tmp_path: Path) -> Iterator[str]:
    """`kepu serve` (the CLI, as operators run it) over a small store; yields the base URL."""
    make_store(tmp_path).close()
    port = free_port()
    env = {
        **os.environ,
        "KEPU_API_KEYS": json.dumps(KEYS),
        "KEPU_PUBLIC_READS": "true",
        "KEPU_ENCODER_DIM": "16",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    command += ["--store-url", f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}", "--var-dir", str(tmp_path / "var")]
    with served(command, env, tmp_path / "serve.log", port, "kepu serve") as base:
        yield base


def raw_get(base: str, target: str) -> tuple[int, dict[str, str], str]:
    """One HTTP/1.1 GET over a plain socket (no client-side URL limits); (status, headers, body)."""
    host = base.removeprefix("http://").split(":")[0]
    return raw_send(base, f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))


def raw_send(base: str, request: bytes) -> tuple[int, dict[str, str], str]:
    """Send bytes, read until the server closes; (status, headers, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body.decode("utf-8")


def test_over_long_queries_get_the_json_error_shape(tmp_path: Path) -> None:
    with kepu_serve(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as http:
        # the case: 10,000 characters, ~90 KB percent-encoded (more than httpx sends: raw socket)
        status, headers, body = raw_get(base, "/v1/search?" + urlencode({"q": "科" * 10_000}))
        assert status in (400, 414) and headers["content-type"] == "application/json", body
        assert json.loads(body)["error"]["field"] == "query"
        # a request line that never ends within uvicorn's head buffer: refused before the app, still JSON
        status, headers, body = raw_send(base, b"GET /v1/search?q=" + b"a" * (MAX_HEAD_BYTES + 10_000))
        assert status == 400, body
        assert headers["content-type"] == "application/json"
        error = json.loads(body)["error"]
        assert error["code"] == "bad_request" and error["field"] == "query" and str(MAX_HEAD_BYTES) in error["message"]

        ascii_query = http.get("/v1/search", params={"q": "a" * 10_000})  # fits the head, over the app's limit
        assert ascii_query.status_code == 414, ascii_query.text
        assert ascii_query.json()["error"] == {
            "code": "uri_too_long",
            "message": "query string exceeds the limit of 8192 bytes",
            "field": "query",
        }

        still_up = http.get("/v1/search", params={"q": "水稻"})
        assert still_up.status_code == 200, still_up.text
