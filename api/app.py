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

from api import log_privacy
from api.compute_threads import pin_compute_threads
from api.docs_pages import install_offline_docs
from api.errors import install_error_handlers
from api.metrics import ApiMetrics
from api.middleware import BodyLimitMiddleware, QueryLimitMiddleware, RequestContextMiddleware
from api.openapi import install_error_documentation
from api.rate_limit import PublicRateLimits
from api.responses import OrjsonResponse
from api.retention import RetentionJob
from api.routers import (
    audiences,
    events,
    experiments,
    health,
    items,
    models,
    recommendations,
    rules,
    stats,
    users,
)
from api.service_provider import BundleServiceProvider, ServiceProvider
from api.settings import ApiSettings
from api.store_outage import outage_tolerant
from content_catalog.pseudonyms import ClientIds
from content_catalog.store import Store

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: Store | None = None,
    service_provider: ServiceProvider | None = None,
    rate_limits: PublicRateLimits | None = None,
) -> FastAPI:
    """Build the Kepu HTTP app.

    settings: API + core settings (default: read from `KEPU_*` env vars).
    store: an open Store (default: `Store.from_settings(settings)`, closed on shutdown).
    service_provider: holds the live RecommendationService (default: loads the store's active bundle).
    rate_limits: limiters for anonymous calls (default: from settings, on the monotonic clock).
    """
    settings = settings or ApiSettings()
    owns_store = store is None
    store = outage_tolerant(store or Store.from_settings(settings))  # type: ignore[assignment]
    metrics = ApiMetrics()
    provider = service_provider or BundleServiceProvider(store, settings)
    retention = RetentionJob(
        store, settings.event_retention_days, settings.retention_interval_seconds, settings.purge_batch_size
    )
    log_privacy.install(keep_user_ids=settings.log_user_ids)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pin_compute_threads(settings.compute_threads)  # before any BLAS/faiss work (api/compute_threads.py)
        await run_in_threadpool(provider.warm_up)  # fit encoder, build index, load the active bundle
        metrics.set_model(provider.version())
        retention.start()  # purges on its own thread, never on a request
        yield
        retention.stop()
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
    app.state.client_ids = ClientIds(settings.id_pepper)
    app.state.retention = retention
    app.state.rate_limits = rate_limits or PublicRateLimits.from_settings(settings)

    install_error_handlers(app)
    install_error_documentation(app)
    install_offline_docs(app)
    for module in (recommendations, items, users, events, audiences, rules, experiments, models, stats, health):
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
    app.add_middleware(QueryLimitMiddleware, max_bytes=settings.max_query_bytes)
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
