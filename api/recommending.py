"""The one place the API turns an HTTP request into a service request and the answer into JSON cards.

Recommendations, audience previews, similar items and search all go through here so cards look the
same everywhere and metrics/experiments are applied once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.errors import ApiError
from api.experiments import Assignment
from api.metrics import ApiMetrics
from api.schemas import Card, ItemListOut, RecommendationsOut
from recommender.cursor import CursorError
from recommender.service import RecommendationRequest


@dataclass(frozen=True)
class RecommendationCall:
    """What a caller asked for, already validated by the router."""

    user_id: str | None = None
    session_id: str | None = None
    audience: str | None = None
    channel: str = "web"
    k: int = 10
    topics: Sequence[str] = field(default_factory=tuple)
    cursor: str | None = None
    explain: bool = True


def card(raw: Any) -> Card:
    """A service result (object or mapping) as an API card."""
    get = raw.get if isinstance(raw, Mapping) else lambda name, default=None: getattr(raw, name, default)
    return Card(
        id=get("id"),
        title=get("title"),
        summary=get("summary", "") or "",
        cover_url=get("cover_url"),
        url=get("url"),
        format=str(get("format", "article")),
        topics=list(get("topics", []) or []),
        audiences=list(get("audiences", []) or []),
        score=float(get("score", 0.0)),
        reason=get("reason"),
    )


def service_request(call: RecommendationCall) -> RecommendationRequest:
    return RecommendationRequest(
        user_id=call.user_id,
        session_id=call.session_id,
        audience=call.audience,
        channel=call.channel,
        k=call.k,
        topics=list(call.topics),
        cursor=call.cursor,
        explain=call.explain,
    )


def run_recommendation(
    service: Any,
    call: RecommendationCall,
    *,
    metrics: ApiMetrics,
    request_id: str,
    kind: str = "personal",
    assignment: Assignment | None = None,
) -> RecommendationsOut:
    """Ask the service (the variant's service when the caller is in an experiment), map a bad cursor
    to 400 (field `query.cursor`), count what was served."""
    try:
        response = service.recommend(service_request(call))
    except CursorError as exc:  # tampered, foreign or expired: the client restarts without a cursor
        raise ApiError(400, str(exc), code="invalid_cursor", field="query.cursor") from exc
    cards = [card(item) for item in response.items]
    metrics.recommendations_served.labels(channel=call.channel, kind=kind).inc()
    metrics.items_served.labels(channel=call.channel).inc(len(cards))
    return RecommendationsOut(
        items=cards,
        next_cursor=response.next_cursor,
        model_version=response.model_version,
        experiment=assignment.label if assignment else None,
        request_id=request_id,
    )


def item_list(results: Sequence[Any], *, model_version: str | None, request_id: str) -> ItemListOut:
    return ItemListOut(items=[card(r) for r in results], model_version=model_version, request_id=request_id)
