"""The editors' and operators' dashboard: read-only aggregates under `/v1/stats/...` (editor role).

Every number is computed by the store with SQL aggregates (`content_catalog.store.stats`); this router
only shapes them. Each endpoint also answers `?format=csv` with the table behind its chart, so the
dashboard can offer a download beside every chart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.ab_stats import ALPHA, MIN_IMPRESSIONS, compare_variants
from api.csv_export import csv_response
from api.deps import Editor, ProviderDep, StoreDep
from api.stats_schemas import (
    CoverageCell,
    CoverageOut,
    ExperimentsStatsOut,
    ExperimentStatsOut,
    ItemLine,
    ItemList,
    Label,
    ModelLine,
    ModelsStatsOut,
    ReachLine,
    ReachOut,
    TopItemLine,
    TopItemsOut,
    VariantTestOut,
)
from content_catalog.store.stats import ANONYMOUS
from content_catalog.store.types import as_utc, utc_now
from content_catalog.taxonomy import AUDIENCES, TOPICS

router = APIRouter(prefix="/v1/stats", tags=["stats"])

Format = Annotated[Literal["json", "csv"], Query(description="`csv`: the table behind the chart, as a download")]
Until = Annotated[datetime | None, Query(description="end of the window (default: now)")]
Days = Annotated[int, Query(ge=1, le=90, description="window length in UTC days, today included")]
AUDIENCE_LABELS = [Label(id=a, label=label) for a, label in AUDIENCES.items()] + [Label(id=ANONYMOUS, label="匿名访客")]


def _ctr(clicks: int, impressions: int) -> float | None:
    return clicks / impressions if impressions else None


def _window(until: datetime | None, days: int) -> tuple[datetime, datetime, list[str]]:
    """[since, until) covering `days` whole UTC days ending with the day of `until`."""
    end = as_utc(until) if until is not None else utc_now()
    first_day = end.astimezone(UTC).date() - timedelta(days=days - 1)
    since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    return since, end, [(first_day + timedelta(days=n)).isoformat() for n in range(days)]


@router.get("/coverage", response_model=CoverageOut, summary="Catalog coverage: audience × topic, items to review")
def coverage(
    _: Editor,
    store: StoreDep,
    format: Format = "json",
    at: Until = None,
    expiring_days: Annotated[int, Query(ge=1, le=365, description="'expiring soon' horizon")] = 30,
    low_confidence_below: Annotated[float, Query(gt=0, le=1, description="best tagger score under this")] = 0.5,
    limit: Annotated[int, Query(ge=1, le=500, description="items per review list")] = 20,
) -> Any:
    now = as_utc(at) if at is not None else utc_now()
    result = store.catalog_coverage(
        at=now,
        expiring_within=timedelta(days=expiring_days),
        low_confidence_below=low_confidence_below,
        limit=limit,
    )
    cells = [CoverageCell(audience=a, topic=t, items=n) for (a, t), n in sorted(result.cells.items())]
    if format == "csv":
        rows = [
            {**c.model_dump(), "audience_label": AUDIENCES.get(c.audience), "topic_label": TOPICS.get(c.topic)}
            for c in cells
        ]
        return csv_response(["audience", "audience_label", "topic", "topic_label", "items"], rows, "coverage.csv")
    return CoverageOut(
        at=now,
        items=result.items,
        audiences=[Label(id=a, label=label) for a, label in AUDIENCES.items()],
        topics=[Label(id=t, label=label) for t, label in TOPICS.items()],
        cells=cells,
        untagged=ItemList(
            count=result.untagged_count, items=[ItemLine(id=i.id, title=i.title) for i in result.untagged]
        ),
        expiring=ItemList(
            count=result.expiring_count,
            items=[ItemLine(id=i.id, title=i.title, expires_at=str(i.value)) for i in result.expiring],
        ),
        low_confidence=ItemList(
            count=result.low_confidence_count,
            items=[ItemLine(id=i.id, title=i.title, score=float(i.value or 0)) for i in result.low_confidence],
        ),
        low_confidence_below=low_confidence_below,
        expiring_days=expiring_days,
    )


@router.get("/reach", response_model=ReachOut, summary="Impressions, clicks and CTR per audience and channel per day")
def reach(_: Editor, store: StoreDep, format: Format = "json", until: Until = None, days: Days = 30) -> Any:
    since, end, day_list = _window(until, days)
    rows = [
        ReachLine(
            day=r.day,
            audience=r.audience,
            channel=r.channel,
            impressions=r.impressions,
            clicks=r.clicks,
            ctr=_ctr(r.clicks, r.impressions),
        )
        for r in store.reach_by_day(since, end)
    ]
    if format == "csv":
        columns = ["day", "audience", "channel", "impressions", "clicks", "ctr"]
        return csv_response(columns, [r.model_dump() for r in rows], "reach.csv")
    return ReachOut(since=since, until=end, days=day_list, audiences=AUDIENCE_LABELS, rows=rows)


@router.get("/top-items", response_model=TopItemsOut, summary="Most clicked items per audience")
def top_items(
    _: Editor,
    store: StoreDep,
    format: Format = "json",
    until: Until = None,
    days: Days = 30,
    k: Annotated[int, Query(ge=1, le=50, description="items per audience")] = 5,
) -> Any:
    since, end, _days = _window(until, days)
    lines = [
        TopItemLine(
            audience=audience,
            rank=rank,
            id=t.id,
            title=t.title,
            impressions=t.impressions,
            clicks=t.clicks,
            ctr=_ctr(t.clicks, t.impressions),
        )
        for audience, items in store.top_items_by_audience(since, end, k=k).items()
        for rank, t in enumerate(items, start=1)
    ]
    if format == "csv":
        columns = ["audience", "rank", "id", "title", "impressions", "clicks", "ctr"]
        return csv_response(columns, [line.model_dump() for line in lines], "top-items.csv")
    return TopItemsOut(since=since, until=end, audiences=AUDIENCE_LABELS, items=lines)


@router.get(
    "/experiments",
    response_model=ExperimentsStatsOut,
    summary="CTR per variant with a 95 % interval, sample size and a two-proportion z-test against the control",
)
def experiments(_: Editor, store: StoreDep, format: Format = "json") -> Any:
    out = []
    for experiment in sorted(store.list_experiments(), key=lambda e: e.created_at, reverse=True):
        names = list(experiment.variants)
        counts = store.experiment_counts(experiment.name, names, since=experiment.created_at)
        tests = compare_variants({v: (c.impressions, c.clicks) for v, c in counts.items()})
        out.append(
            ExperimentStatsOut(
                name=experiment.name,
                active=experiment.active,
                created_at=experiment.created_at,
                control=next((t.name for t in tests if t.is_control), None),
                variants=[VariantTestOut(**_fields(t)) for t in tests],
            )
        )
    if format == "csv":
        columns = ["experiment", *VariantTestOut.model_fields]
        rows = [{"experiment": e.name, **v.model_dump()} for e in out for v in e.variants]
        return csv_response(columns, rows, "experiments.csv")
    return ExperimentsStatsOut(alpha=ALPHA, min_impressions=MIN_IMPRESSIONS, experiments=out)


@router.get("/models", response_model=ModelsStatsOut, summary="Model versions, their validation figures, which serves")
def models(_: Editor, store: StoreDep, provider: ProviderDep, format: Format = "json") -> Any:
    serving = provider.version()
    lines = [
        ModelLine(
            version=m.version,
            created_at=m.created_at,
            active=m.active,
            serving=m.version == serving,
            metrics={
                k: float(v) for k, v in m.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
            },
        )
        for m in store.list_model_versions()
    ]
    names = sorted({name for line in lines for name in line.metrics})
    if format == "csv":
        rows = [{**line.model_dump(exclude={"metrics"}), **line.metrics} for line in lines]
        return csv_response(["version", "created_at", "active", "serving", *names], rows, "models.csv")
    return ModelsStatsOut(serving=serving, metric_names=names, models=lines)


def _fields(test: Any) -> dict[str, Any]:
    return {name: getattr(test, name) for name in VariantTestOut.model_fields}
