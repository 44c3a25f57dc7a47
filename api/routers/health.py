"""Liveness, readiness and Prometheus metrics for operators."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from api.deps import MetricsDep, ProviderDep, StoreDep
from api.responses import OrjsonResponse
from api.schemas import HealthOut

router = APIRouter(tags=["ops"])
logger = logging.getLogger(__name__)


def _follow_store(provider: object) -> None:
    """Pick up a version another worker activated before reporting (never an error: readiness reports)."""
    sync = getattr(provider, "sync", None)
    if callable(sync):
        try:
            sync(force=True)
        except Exception:  # the store check in /readyz says what is wrong with the store
            logger.warning("model sync before a health report failed", exc_info=True)


@router.get("/healthz", response_model=HealthOut, summary="The process is up")
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Not ready: `checks` says why"}},
    summary="Ready to serve: store reachable and a model loaded",
)
def readyz(store: StoreDep, provider: ProviderDep) -> Response:
    """503 when nothing can be served or the catalog is still warming up (the first request would be slow);
    200 `degraded` while the store is down but a model serves from memory."""
    checks: dict[str, str] = {}
    try:
        store.count_items()
        checks["store"] = "ok"
    except Exception as exc:  # readiness must report, never crash
        checks["store"] = f"unreachable: {type(exc).__name__}; reads served from memory, writes refused (503)"
    _follow_store(provider)
    warm = getattr(provider, "is_warm", None)
    warming = callable(warm) and not warm()
    if warming:  # said only while true, so a ready worker's checks stay {store, model}
        checks["catalog"] = "warming up: catalog view, index and encoder"
    version = provider.version()
    problem = getattr(provider, "load_error", None)
    if version:
        checks["model"] = f"ok ({version})" + (f"; {problem}" if problem else "")
    else:
        checks["model"] = problem or "no model loaded"
    store_ok = checks["store"] == "ok"
    ready = version is not None and not warming
    status = "unavailable" if not ready else "ok" if store_ok else "degraded"
    body = HealthOut(status=status, checks=checks)
    return OrjsonResponse(body.model_dump(), status_code=503 if status == "unavailable" else 200)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
def metrics(metrics: MetricsDep, provider: ProviderDep) -> Response:
    _follow_store(provider)
    metrics.set_model(provider.version())
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
