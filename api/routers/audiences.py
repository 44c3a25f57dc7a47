"""Audiences for editors: the list with Chinese labels and item counts, and a per-channel preview of
what a brand-new user of an audience would be recommended (with the reasons)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import MetricsDep, Reader, RequestIdDep, ServiceDep, StoreDep
from api.recommending import RecommendationCall, run_recommendation
from api.schemas import AudienceId, AudienceOut, AudiencesOut, Channel, RecommendationsOut, TaxonomyOut
from content_catalog.taxonomy import AUDIENCES, CHANNELS, FORMATS, TOPICS

router = APIRouter(prefix="/v1", tags=["audiences"])


class StatsCache:
    """`catalog_stats()` scans every item; keep its result until `catalog_version()` moves on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._stats: dict | None = None

    def get(self, store: StoreDep, metrics: MetricsDep) -> dict:
        version = store.catalog_version()
        with self._lock:
            if self._stats is not None and version == self._version:
                metrics.cache("catalog_stats", hit=True)
                return self._stats
        stats = store.catalog_stats()
        with self._lock:
            self._version, self._stats = version, stats
        metrics.cache("catalog_stats", hit=False)
        return stats


def _stats_cache(request: Request) -> StatsCache:
    state = request.app.state
    if not hasattr(state, "stats_cache"):
        state.stats_cache = StatsCache()
    return state.stats_cache


@router.get("/audiences", response_model=AudiencesOut, summary="Audience ids, Chinese labels, item counts")
def list_audiences(request: Request, _: Reader, store: StoreDep, metrics: MetricsDep) -> AudiencesOut:
    stats = _stats_cache(request).get(store, metrics)
    counts = stats.get("by_audience", {})
    return AudiencesOut(
        audiences=[AudienceOut(id=a, label=label, item_count=int(counts.get(a, 0))) for a, label in AUDIENCES.items()],
        untagged_items=int(stats.get("untagged", 0)),
    )


@router.get(
    "/audiences/{audience}/preview",
    response_model=RecommendationsOut,
    summary="What a brand-new user of this audience sees on a channel, with reasons",
)
def preview_audience(
    audience: Annotated[AudienceId, Path(description="audience id, e.g. seniors")],
    _: Reader,
    service: ServiceDep,
    metrics: MetricsDep,
    request_id: RequestIdDep,
    channel: Channel = "web",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> RecommendationsOut:
    call = RecommendationCall(audience=audience, channel=channel, k=k, explain=True)
    return run_recommendation(service, call, metrics=metrics, request_id=request_id, kind="preview")


@router.get("/taxonomy", response_model=TaxonomyOut, summary="Chinese labels of audiences, topics, formats, channels")
def taxonomy(_: Reader) -> TaxonomyOut:
    return TaxonomyOut(audiences=dict(AUDIENCES), topics=dict(TOPICS), formats=dict(FORMATS), channels=dict(CHANNELS))
