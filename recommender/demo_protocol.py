"""`demo-simulated` evaluation protocol: the SYNTHETIC simulator on the shipped demo catalog.

What it measures is how well each model recovers the simulator's own taste model — useful as a smoke test
of the whole feature → model pipeline and for per-audience slices, never as a headline result.
Split: temporal holdout (the last `TEST_FRACTION` of events by time); truth = items a user interacted with
positively in the test period but not before; items seen in training are excluded when ranking.
Models: global popularity, audience popularity (segment popularity), LightFM WARP without features, the
LightFM hybrid with the same user/item features the production pipeline trains with, and `KepuService`: the
whole online path (train_bundle → RecommendationService with content neighbours, priors, freshness, MMR)
asked for each test user's first page at the cutoff time, with a real SQLite store, encoder and vector index.
`KepuService` has no AUC (it returns lists, not scores for every item).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from content_catalog.demo_catalog import load_demo_items
from features.interactions import InteractionMatrixBuilder, events_to_frame
from features.item_features import ItemFeatureBuilder
from features.simulator import simulate
from features.user_features import UserFeatureBuilder
from recommender.candidates import TOPIC_IDS
from recommender.evaluation.metrics import (
    MRR,
    NDCG,
    CatalogCoverage,
    HitRate,
    IntraListDiversity,
    Novelty,
    Precision,
    Recall,
    per_segment_mean,
)
from recommender.evaluation.protocols import (
    SEGMENT_METRICS,
    ListContext,
    available_protocols,
    evaluate_scores,
    register_protocol,
)
from recommender.evaluation.results import ModelRun
from recommender.models import LightFMModel, PopularityModel

NAME = "demo-simulated"
TEST_FRACTION = 0.2


def _topic_vectors(items: list) -> np.ndarray:
    out = np.zeros((len(items), len(TOPIC_IDS)), dtype=np.float32)
    for i, it in enumerate(items):
        for t in it.topics:
            out[i, TOPIC_IDS.index(t)] = 1.0
    return out


def demo_simulated(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """Protocol function (`data_dir` unused: everything is generated from the shipped demo catalog)."""
    items = sorted(load_demo_items(), key=lambda it: it.id)
    item_ids = [it.id for it in items]
    users, events = simulate(items, n_users_per_audience=10 if fast else 40, days=30 if fast else 60, seed=seed)
    frame = events_to_frame(events)
    cutoff = frame["timestamp"].quantile(1.0 - TEST_FRACTION)
    train_ev, test_ev = frame[frame["timestamp"] < cutoff], frame[frame["timestamp"] >= cutoff]
    user_ids = [u.id for u in users]
    builder = InteractionMatrixBuilder(half_life_days=30.0).fit(train_ev, item_ids=item_ids, user_ids=user_ids)
    train = builder.transform(train_ev).matrix
    test = builder.transform(test_ev).matrix
    truth = sp.csr_matrix(((test > 0).astype(np.float32) - (test > 0).multiply(train > 0)).astype(np.float32))
    truth.eliminate_zeros()
    rows = np.flatnonzero((np.diff(truth.indptr) > 0) & (np.diff(train.indptr) > 0))
    audiences = np.array([u.audiences[0] for u in users])
    exclude = train[rows]
    context = ListContext(
        np.asarray((train > 0).sum(axis=0)).ravel(),
        train.shape[0],
        _topic_vectors(items),
        {"audience": audiences[rows]},
    )
    user_x = UserFeatureBuilder(identity=False, normalize=False).fit(users).transform(users)
    item_x = ItemFeatureBuilder(n_text_clusters=0, identity=False, normalize=False).fit(items).transform(items)
    epochs = 10 if fast else 30
    runs: list[ModelRun] = []

    start = time.perf_counter()
    pop = PopularityModel().fit(train)
    seconds = time.perf_counter() - start
    runs.append(
        evaluate_scores(
            "Popularity",
            seed,
            pop.score(rows),
            truth[rows],
            k,
            context,
            exclude=exclude,
            fit_seconds=seconds,
            params=pop.get_params(),
        )
    )
    pop.fit_segments(audiences)
    runs.append(
        evaluate_scores(
            "AudiencePopularity",
            seed,
            pop.score_segments(audiences[rows]),
            truth[rows],
            k,
            context,
            exclude=exclude,
            fit_seconds=seconds,
            params=pop.get_params(),
        )
    )
    for name, ux, ix in (("LightFM-WARP", None, None), ("LightFM-hybrid", user_x, item_x)):
        model = LightFMModel(no_components=32, epochs=epochs, random_state=seed, item_alpha=1e-6, user_alpha=1e-6)
        start = time.perf_counter()
        model.fit(train, user_features=ux, item_features=ix)
        seconds = time.perf_counter() - start
        runs.append(
            evaluate_scores(
                name,
                seed,
                model.score(rows),
                truth[rows],
                k,
                context,
                exclude=exclude,
                fit_seconds=seconds,
                params=model.get_params(),
            )
        )
    runs.append(_service_run(items, users, train_ev, truth, rows, k, context, seed, fast, cutoff))
    return runs


def _service_run(
    items: list,
    users: list,
    train_ev: pd.DataFrame,
    truth: sp.csr_matrix,
    rows: np.ndarray,
    k: int,
    context: ListContext,
    seed: int,
    fast: bool,
    cutoff: pd.Timestamp,
) -> ModelRun:
    """The online path end to end: store ← train events, train_bundle, RecommendationService.recommend."""
    from content_catalog.encoders import make_encoder
    from content_catalog.schema import Event
    from content_catalog.store import Store
    from content_catalog.vector_index import VectorIndex
    from recommender.service import RecommendationRequest, RecommendationService
    from recommender.train import TrainParams, train_bundle

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kepu-demo-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'kepu.db'}")
        try:
            store.upsert_items(items)
            for user in users:
                store.upsert_user(user)
            records = train_ev.astype(object).where(train_ev.notna(), None).to_dict("records")
            store.add_events(
                [Event.model_validate({k: v for k, v in r.items() if k in Event.model_fields}) for r in records]
            )
            encoder = make_encoder("tfidf-svd", dim=64, smoothing_neighbours=0 if fast else 5, random_state=seed)
            encoder.fit([it.text for it in items])
            params = TrainParams(no_components=32, epochs=10 if fast else 30, holdout_fraction=0.0)
            bundle = train_bundle(store, encoder, Path(tmp) / "models", seed, params=params, version="demo")
            index = VectorIndex(encoder.dim)
            index.add([it.id for it in items], encoder.encode([it.text for it in items]))
            service = RecommendationService(store, bundle, encoder, index)
            fit_seconds = time.perf_counter() - start
            item_col = {it.id: i for i, it in enumerate(items)}
            reco = np.full((len(rows), k), -1, dtype=np.int64)
            now = cutoff.to_pydatetime()
            for n, row in enumerate(rows):
                response = service.recommend(RecommendationRequest(user_id=users[row].id, k=k, now=now, explain=False))
                cols = [item_col[c.id] for c in response.items]
                reco[n, : len(cols)] = cols
        finally:
            store.close()
    t = truth[rows]
    per_user = {
        "precision": Precision(k).calc_per_user(reco, t),
        "recall": Recall(k).calc_per_user(reco, t),
        "ndcg": NDCG(k).calc_per_user(reco, t),
        "mrr": MRR(k).calc_per_user(reco, t),
        "hit": HitRate(k).calc_per_user(reco, t),
        "auc": np.full(len(rows), np.nan),
    }
    metrics = {name: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for name, v in per_user.items()}
    metrics["coverage"] = CatalogCoverage(k, truth.shape[1]).calc(reco)
    metrics["novelty"] = Novelty(k, context.item_user_counts, context.n_train_users).calc(reco)
    metrics["diversity"] = IntraListDiversity(k, context.item_vectors).calc(reco)
    segments = {
        kind: {
            str(label): {
                name: float(per_segment_mean(per_user[name], labels).get(label, np.nan)) for name in SEGMENT_METRICS
            }
            for label in np.unique(labels)
        }
        for kind, labels in context.segments.items()
    }
    return ModelRun(
        "KepuService", seed, metrics, fit_seconds, {"pipeline": "train_bundle + RecommendationService"}, segments
    )


def register() -> None:
    """Make `run_protocol("demo-simulated", ...)` available (idempotent)."""
    if NAME not in available_protocols():
        register_protocol(
            NAME,
            demo_simulated,
            description="SYNTHETIC: simulator on the demo catalog, temporal "
            "holdout, metrics per audience (not a headline result)",
        )


register()
