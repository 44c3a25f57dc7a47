"""Recommendations for a visitor (known user or anonymous session), similar items, and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.compute_threads import pin_current_thread
from api.deps import ClientIdsDep, MetricsDep, ProviderDep, Reader, RequestIdDep, ServiceDep, StoreDep
from api.errors import ApiError
from api.experiments import Assignment, assign
from api.recommending import RecommendationCall, item_list, run_recommendation
from api.roles import Role
from api.routers.experiments import active_experiment_variants
from api.schemas import AudienceId, Channel, ItemListOut, RecommendationsOut, SearchOut
from api.service_provider import ActivationError
from content_catalog.schema import ID_PATTERN
from content_catalog.store import Store
from content_catalog.taxonomy import TOPICS
from recommender.service import UnknownItemError

router = APIRouter(prefix="/v1", tags=["recommendations"])
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=128)]


def experiment_for(store: Store, subject_id: str | None) -> Assignment | None:
    """The caller's variant in the active experiment (none for audience-only requests)."""
    if not subject_id:
        return None
    active = active_experiment_variants(store)
    return None if active is None else assign(active[0], active[1], subject_id)


@router.get("/recommendations", response_model=RecommendationsOut, summary="Ranked cards for a visitor")
def recommendations(
    _: Reader,
    store: StoreDep,
    service: ServiceDep,
    provider: ProviderDep,
    metrics: MetricsDep,
    request_id: RequestIdDep,
    ids: ClientIdsDep,
    user_id: IdQuery = None,
    session_id: IdQuery = None,
    audience: AudienceId | None = Query(None, description="the visitor's audience when known (cold start)"),
    channel: Channel = "web",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    topic: Annotated[list[str] | None, Query(description="repeat to allow several topics")] = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    explain: bool = True,
) -> RecommendationsOut:
    pin_current_thread()  # this request thread's OpenMP pool (api/compute_threads.py)
    if not (user_id or session_id or audience):
        raise ApiError(422, "give user_id, session_id or audience", field="query.user_id")
    topics = list(dict.fromkeys(topic or []))
    for index, name in enumerate(topics):
        if name not in TOPICS:
            raise ApiError(422, f"unknown topic {name!r}", field=f"query.topic.{index}")
    user_id, session_id = ids.stored_or_none(user_id), ids.stored_or_none(session_id)
    call = RecommendationCall(
        user_id=user_id,
        session_id=session_id,
        audience=audience,
        channel=channel,
        k=k,
        topics=topics,
        cursor=cursor,
        explain=explain,
    )
    assignment = experiment_for(store, user_id or session_id)
    if assignment is not None:
        try:
            service = provider.for_variant(assignment.params)
        except ActivationError as exc:  # the variant names a model version that cannot load
            raise ApiError(503, f"experiment variant {assignment.label}: {exc.message}", code="unavailable") from exc
    return run_recommendation(service, call, metrics=metrics, request_id=request_id, assignment=assignment)


@router.get("/items/{item_id}/similar", response_model=ItemListOut, summary="Items similar to one item")
def similar(
    item_id: Annotated[str, Path(pattern=ID_PATTERN)],
    _: Reader,
    service: ServiceDep,
    request_id: RequestIdDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> ItemListOut:
    pin_current_thread()
    try:  # the service's catalog view follows the store's catalog version, and serves from memory in an outage
        results = service.similar(item_id, k)
    except UnknownItemError as exc:
        raise ApiError(404, f"item {item_id!r} not found", field="path.item_id") from exc
    return item_list(results, model_version=_version(service), request_id=request_id)


@router.get("/search", response_model=SearchOut, summary="Hybrid keyword + semantic search over the catalog")
def search(
    caller: Reader,
    service: ServiceDep,
    request_id: RequestIdDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="query text (Chinese or English)")],
    audience: AudienceId | None = None,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    include_hidden: Annotated[
        bool, Query(description="editors: also return expired and unverified items (needs an editor key)")
    ] = False,
) -> SearchOut:
    """One search path with `kepu catalog search` (`recommender.search`): same filters, same scores."""
    pin_current_thread()
    if not q.strip():
        raise ApiError(422, "q must not be blank", field="query.q")
    if include_hidden and (caller.role is None or caller.role < Role.EDITOR):
        raise ApiError(403, "include_hidden needs an editor API key", field="query.include_hidden")
    if len(service.index) == 0:  # empty catalog: nothing to search (and no fitted encoder yet)
        return SearchOut(items=[], model_version=_version(service), request_id=request_id, hint="目录为空")
    try:
        results, hint = service.search_with_hint(q, k, audience=audience, include_hidden=include_hidden)
    except ValueError as exc:
        raise ApiError(422, str(exc), field="query.q") from exc
    listed = item_list(results, model_version=_version(service), request_id=request_id)
    return SearchOut(**listed.model_dump(), hint=hint)


def _version(service: object) -> str | None:
    version = getattr(service, "model_version", None)
    return version if isinstance(version, str) else None
