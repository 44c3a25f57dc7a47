"""A/B experiments: define named variants (admin), list them with per-variant CTR (editor).

The store keeps each experiment's traffic shares and what each variant *changes* (MMR λ, freshness
weight, shrinkage, model version) in one row, written and audited in one transaction.
CTR = clicks / impressions over events labelled `<experiment>/<variant>`.
"""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import ValidationError

from api.deps import Admin, Editor, StoreDep
from api.errors import ApiError
from api.experiments import variant_ctr
from api.schemas import ExperimentIn, ExperimentOut, ExperimentsOut, VariantOut, VariantParams, VariantStats
from content_catalog.input_policy import ITEM_EARLIEST, ITEM_LATEST, check_range, to_utc
from content_catalog.store import Store
from content_catalog.store.records import Experiment

router = APIRouter(prefix="/v1", tags=["experiments"])


def active_experiment_variants(store: Store) -> tuple[str, list[dict]] | None:
    """The active experiment newest by creation, as `(name, [{name, weight, params}])`, or None."""
    active = sorted(store.list_experiments(active_only=True), key=lambda e: e.created_at, reverse=True)
    if not active:
        return None
    experiment = active[0]
    return experiment.name, [
        {"name": v, "weight": share, "params": experiment.params.get(v, {})} for v, share in experiment.variants.items()
    ]


def stored_variant(name: str, share: object, params: object) -> VariantOut:
    """A variant as stored. Rows written before weights and params were validated may hold values the
    input schema now refuses (1.79e308, NaN, mmr_lambda 7): they are shown as they are, never a 500."""
    weight = share if isinstance(share, int | float) and math.isfinite(share) else None
    try:
        checked = VariantParams.model_validate(params or {}).model_dump()
    except ValidationError:
        checked = dict(params) if isinstance(params, dict) else {}
    return VariantOut(name=name, weight=weight, params=checked)


def experiment_out(store: Store, experiment: Experiment, since: datetime | None) -> ExperimentOut:
    names = list(experiment.variants)
    events = store.events_frame(since=since if since is not None else experiment.created_at)
    stats = variant_ctr(events, experiment.name, names)
    return ExperimentOut(
        name=experiment.name,
        active=experiment.active,
        created_at=experiment.created_at,
        variants=[stored_variant(v, share, experiment.params.get(v)) for v, share in experiment.variants.items()],
        stats={v: VariantStats(**s) for v, s in stats.items()},
    )


@router.get("/experiments", response_model=ExperimentsOut, summary="Experiments with per-variant CTR")
def list_experiments(
    _: Editor,
    store: StoreDep,
    since: datetime | None = Query(None, description="count events from here (default: experiment start)"),
) -> ExperimentsOut:
    try:
        since = check_range(to_utc(since), ITEM_EARLIEST, ITEM_LATEST)
    except ValueError as exc:
        raise ApiError(422, f"query.since: {exc}", field="query.since") from exc
    return ExperimentsOut(experiments=[experiment_out(store, e, since) for e in store.list_experiments()])


@router.post("/experiments", response_model=ExperimentOut, status_code=201, summary="Create or update")
def upsert_experiment(body: ExperimentIn, caller: Admin, store: StoreDep) -> ExperimentOut:
    registered = {m.version for m in store.list_model_versions()}
    for index, variant in enumerate(body.variants):
        version = variant.params.model_version
        if version is not None and version not in registered:
            raise ApiError(
                422, f"model version {version!r} is not registered", field=f"body.variants.{index}.params.model_version"
            )
    experiment = store.upsert_experiment(
        body.name,
        {v.name: v.weight for v in body.variants},
        params={v.name: v.params.model_dump(exclude_none=True) for v in body.variants},
        active=body.active,
        actor=caller.actor,
    )
    return experiment_out(store, experiment, None)
