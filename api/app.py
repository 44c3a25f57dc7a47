"""The app factory: settings, store and recommendation service are injected, nothing is global.

`create_app(settings)` opens the store named by the settings and loads the active model bundle;
tests pass `store=` (a tmp SQLite store) and/or `service_provider=` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.docs_pages import install_offline_docs
from api.errors import install_error_handlers
from api.metrics import ApiMetrics
from api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.responses import OrjsonResponse
from api.routers import (
    audiences,
    events,
    experiments,
    health,
    items,
    models,
    recommendations,
    rules,
    users,
)
from api.service_provider import BundleServiceProvider, ServiceProvider
from api.settings import ApiSettings
from content_catalog.store import Store

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: Store | None = None,
    service_provider: ServiceProvider | None = None,
) -> FastAPI:
    """Build the Kepu HTTP app.

    settings: API + core settings (default: read from `KEPU_*` env vars).
    store: an open Store (default: `Store.from_settings(settings)`, closed on shutdown).
    service_provider: holds the live RecommendationService (default: loads the store's active bundle).
    """
    settings = settings or ApiSettings()
    owns_store = store is None
    store = store or Store.from_settings(settings)
    metrics = ApiMetrics()
    provider = service_provider or BundleServiceProvider(store, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(provider.warm_up)  # fit encoder, build index, load the active bundle
        metrics.set_model(provider.version())
        yield
        provider.close()
        if owns_store:
            store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Kepu 科普推荐 API",
        version="1.0",
        description="Personalised science-content recommendations for the museum site, the WeChat "
        "mini-program and editors. Errors always have the shape {error: {code, message, field}}.",
        default_response_class=OrjsonResponse,
        docs_url=None,  # /docs and /redoc: install_offline_docs, assets served locally
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.services = provider

    install_error_handlers(app)
    install_offline_docs(app)
    for module in (recommendations, items, users, events, audiences, rules, experiments, models, health):
        app.include_router(module.router)

    app.mount("/editor", StaticFiles(directory=STATIC_DIR / "editor", html=True), name="editor")
    app.mount("/examples", StaticFiles(directory=STATIC_DIR / "examples", html=True), name="examples")
    app.mount("/covers", StaticFiles(directory=STATIC_DIR / "covers"), name="covers")  # demo cover images
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/editor/", status_code=307)

    # Outermost first: CORS answers preflights before the body limit or routing run.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )

    return app
