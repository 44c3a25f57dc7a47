"""Liveness, readiness and Prometheus metrics for operators."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import MetricsDep, ProviderDep, StoreDep
from api.responses import OrjsonResponse
from api.schemas import HealthOut

router = APIRouter(tags=["ops"])


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
    checks: dict[str, str] = {}
    try:
        store.count_items()
        checks["store"] = "ok"
    except Exception as exc:  # readiness must report, never crash
        checks["store"] = f"unreachable: {type(exc).__name__}"
    version = provider.version()
    problem = getattr(provider, "load_error", None)
    checks["model"] = f"ok ({version})" if version else (problem or "no model loaded")
    ready = checks["store"] == "ok" and version is not None
    body = HealthOut(status="ok" if ready else "unavailable", checks=checks)
    return OrjsonResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
def metrics(metrics: MetricsDep, provider: ProviderDep) -> Response:
    metrics.set_model(provider.version())
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
