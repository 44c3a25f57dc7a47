"""Run the API under uvicorn (the CLI's `kepu serve` calls `serve`)."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.http_protocol import uvicorn_options
from api.settings import ApiSettings


def serve(
    settings: ApiSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve one process. For several, use `kepu serve --workers N` or several replicas on one PostgreSQL
    store behind a load balancer: cursors, history and the active model live in the store, so no sticky
    sessions are needed (docs/scaling.md, tests/test_replicas.py)."""
    app = create_app(settings or ApiSettings())
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=True,
        **uvicorn_options(),
    )
