"""uvicorn's HTTP/1.1 protocol with the API's JSON error shape for requests it cannot parse.

Why: h11 refuses a request whose line or headers exceed its buffer (a 10,000-character Chinese query is
~90 KB percent-encoded) before the app sees it, and uvicorn answers with a plain-text 400 that clients
parsing `{"error": {...}}` cannot read. This subclass sends the same 400 as JSON. The head limit is
`MAX_HEAD_BYTES` (uvicorn's `h11_max_incomplete_event_size`); a query string under it but over
`KEPU_MAX_QUERY_BYTES` is refused by the app with 414 (`api.middleware.QueryLimitMiddleware`).
"""

from __future__ import annotations

from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import error_body

MAX_HEAD_BYTES = 64 * 1024
"""Request line plus headers that uvicorn buffers before refusing the request (uvicorn's default: 16 KiB)."""

PROTOCOL = "api.http_protocol:JsonErrorH11Protocol"
"""What to pass as uvicorn's `http=` (an import string, so every worker process loads it)."""


class JsonErrorH11Protocol(H11Protocol):
    """H11Protocol whose unparseable-request 400 is `{"error": {code, message, field}}`."""

    def send_400_response(self, msg: str) -> None:
        message = (
            f"{msg.rstrip('.')}: the request line or headers are malformed or longer than {MAX_HEAD_BYTES} bytes "
            "(send long input such as a search query in a shorter form)"
        )
        body = orjson.dumps(error_body("bad_request", message, "query"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


WORKER_HEALTHCHECK_SECONDS = 120
"""How long uvicorn's supervisor (`--workers N`) waits for a worker to answer its ping before killing it as
hung and starting another (uvicorn's default: 5 s). A worker answers from a thread that needs the GIL, and
start-up is CPU-bound Python: reading 100k items, and after a catalog change jieba over the changed texts
(the whole catalog, ~2-3 min on a busy 2-core box, when no keyword index is saved yet). With 5 s, N workers
warming up side by side missed pings, were killed and started their warm-up over: a restart loop (measured
at 100k items, bench/README.md). 120 s still replaces a worker that is really stuck; /readyz tells a load
balancer when a worker is ready, so nothing waits on this timeout to route traffic."""


def uvicorn_options(worker_healthcheck: int = WORKER_HEALTHCHECK_SECONDS) -> dict[str, Any]:
    """The keyword arguments every `uvicorn.run` of the API passes (CLI serve/demo, api.server)."""
    return {
        "http": PROTOCOL,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_worker_healthcheck": worker_healthcheck,
    }
