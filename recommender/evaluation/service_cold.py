"""Cold start through the service: `movielens-service-cold-users` and `movielens-service-cold-items`.

Same store mapping and training code as `movielens-service` (`kepu train`'s defaults and its own
time-ordered validation, no time decay), same hold-outs as `movielens-cold-users` / `movielens-cold-items`.
Whatever model is trained, the bundle's cold-start companions (`recommender.rankers.cold_start`) answer
here: the cold-user ranker scores profile-only requesters, the content-bilinear ranker new items.

- cold users: 20 % of users are held out with all their ratings; their profiles (audience, age band,
  town) are in the store, their events are not. Each is asked for through `RecommendationService.recommend`
  at their arrival time (first rating), and judged on all their ratings. Baselines: global popularity of
  the warm events, and the same restricted to movies released by the arrival year (the service never
  shows an item before its `published_at`, so this isolates what the blend adds beyond that filter).
- cold items: 20 % of items are held out with all their ratings and upserted into the store *after*
  training (items added after training: feature rows with text clusters, no events). Each user's
  held-out items are ranked among all held-out items by the service's blended score
  (`RecommendationService.score_catalog`: sources → fitted blend → freshness, before MMR), AUC and NDCG.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from content_catalog.encoders import make_encoder
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.evaluation.datasets import MovieLens100k, load_movielens_100k
from recommender.evaluation.metrics import AUC, NDCG, Precision
from recommender.evaluation.movielens_store import item_ids_of, movie_items, movie_users, rating_events, user_id
from recommender.evaluation.protocols import _context, _users_with_truth, evaluate_scores, register_protocol
from recommender.evaluation.results import ModelRun
from recommender.evaluation.service_protocol import ABLATIONS, ENCODER_DIM, _service, list_run, serve_lists
from recommender.evaluation.splits import holdout_ids, rows_with_ids
from recommender.models import PopularityModel
from recommender.registry import Bundle
from recommender.service import RecommendationRequest, ServiceSettings
from recommender.train import TrainParams, train_bundle

FAST_COLD_USERS = 100


def _trained_store(
    tmp: str, data: MovieLens100k, item_rows: np.ndarray, event_rows: np.ndarray, seed: int, fast: bool
) -> tuple[Store, Bundle, Any, VectorIndex, float]:
    """A store with the given movies, every profile and the given ratings, trained like `kepu train`."""
    every_item = movie_items(data)
    items = [every_item[i] for i in item_rows]
    store = Store(f"sqlite:///{Path(tmp) / 'kepu.db'}")
    store.upsert_items(items, actor="movielens")
    for user in movie_users(data):
        store.upsert_user(user)
    store.add_events(rating_events(data, event_rows))
    encoder = make_encoder("tfidf-svd", dim=ENCODER_DIM, random_state=seed)
    encoder.fit([it.text for it in every_item])  # the text model knows every title, as in production
    start = time.perf_counter()
    # no time decay, as in `movielens-service`: held-out users arrive throughout the ratings' span and are
    # asked for at their arrival, so recency relative to the end of training carries no meaning here
    params = TrainParams(half_life_days=None, max_validation_users=80 if fast else 200)
    bundle = train_bundle(
        store,
        encoder,
        Path(tmp) / "models",
        seed,
        params=params,
        version=f"cold-s{seed}",
        register_version=False,
        model="ease" if fast else "auto",
    )
    index = VectorIndex(ENCODER_DIM)
    index.add([it.id for it in items], encoder.encode([it.text for it in items]))
    return store, bundle, encoder, index, time.perf_counter() - start


def movielens_service_cold_users(
    data_dir: Path | None, seed: int, k: int, fast: bool, ablations: bool = False
) -> list[ModelRun]:
    """`ablations`: also serve every held-out user once per online stage switched off (`ABLATIONS`)."""
    data = load_movielens_100k(data_dir)
    kept, held = holdout_ids(data.n_users, 0.2, seed)
    ratings = data.ratings
    full = data.interaction_matrix()
    warm_rows = rows_with_ids(ratings["user_idx"].to_numpy(), kept)
    if fast:
        held = np.sort(np.random.default_rng(seed).choice(held, FAST_COLD_USERS, replace=False))
    truth = full[held]
    context = _context(data, full[kept], held)
    arrival = ratings.groupby("user_idx")["timestamp"].min()
    column_of = {iid: col for col, iid in enumerate(item_ids_of(data))}
    with tempfile.TemporaryDirectory(prefix="kepu-ml-cold-users-") as tmp:
        store, bundle, encoder, index, seconds = _trained_store(
            tmp, data, np.arange(data.n_items), warm_rows, seed, fast
        )
        try:
            lists = {}
            for label, change in {"": {}, **ABLATIONS}.items():
                if label and not ablations:
                    continue
                service = _service(store, bundle, encoder, index, ServiceSettings(**change))
                reco = np.full((len(held), k), -1, dtype=np.int64)
                for row, user in enumerate(held):
                    now = datetime.fromtimestamp(int(arrival[user]), tz=UTC)
                    one, _ = serve_lists(service, [int(user)], k, now, column_of)
                    reco[row] = one[0]
                lists[label] = reco
        finally:
            store.close()
    params = {"model": bundle.model_name, "selection": bundle.manifest.get("selection", {})}
    runs = [list_run(f"Served ({bundle.model_name})", seed, lists[""], truth, k, context, seconds, params)]
    for label, reco in lists.items():
        if label:
            runs.append(list_run(f"Served {label}", seed, reco, truth, k, context, 0.0, {}))
    popularity = PopularityModel().fit(full[kept]).score(np.zeros(len(held), dtype=np.int64))  # same row for all
    runs.append(evaluate_scores("Popularity (global)", seed, popularity, truth, k, context))
    years = data.items["year"].to_numpy(dtype=float)
    arrival_years = np.array([datetime.fromtimestamp(int(arrival[u]), tz=UTC).year for u in held])
    released = np.where(np.isnan(years)[None, :] | (years[None, :] <= arrival_years[:, None]), popularity, -np.inf)
    runs.append(evaluate_scores("Popularity (released by arrival)", seed, released, truth, k, context))
    return runs


def movielens_service_cold_items(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    data = load_movielens_100k(data_dir)
    warm, cold = holdout_ids(data.n_items, 0.2, seed)
    ratings = data.ratings
    full = data.interaction_matrix()
    warm_rows = rows_with_ids(ratings["item_idx"].to_numpy(), warm)
    truth_all = full[:, cold].tocsr()
    users = _users_with_truth(truth_all)
    if fast:
        users = np.sort(np.random.default_rng(seed).choice(users, FAST_COLD_USERS, replace=False))
    now = datetime.fromtimestamp(int(ratings["timestamp"].max()) + 1, tz=UTC)
    ids = item_ids_of(data)
    with tempfile.TemporaryDirectory(prefix="kepu-ml-cold-items-") as tmp:
        store, bundle, encoder, index, seconds = _trained_store(tmp, data, warm, warm_rows, seed, fast)
        try:
            every_item = movie_items(data)
            new_items = [every_item[i] for i in cold]
            store.upsert_items(new_items, actor="movielens")  # added after training: no events, no model rows
            service = _service(store, bundle, encoder, index, ServiceSettings())
            scores = np.full((len(users), len(cold)), -np.inf, dtype=np.float32)
            for row, user in enumerate(users):
                view, _, blended = service.score_catalog(RecommendationRequest(user_id=user_id(user + 1), now=now))
                cols = view.ids.convert_to_internal([ids[i] for i in cold], strict=False)
                scores[row] = np.where(cols >= 0, blended[np.maximum(cols, 0)], -np.inf)
        finally:
            store.close()
    truth = sp.csr_matrix(truth_all[users])
    metrics = {
        "auc": AUC().calc(scores, truth),
        "ndcg": NDCG(k).calc(_top(scores, k), truth),
        "precision": Precision(k).calc(_top(scores, k), truth),
    }
    params = {"model": bundle.model_name, "selection": bundle.manifest.get("selection", {})}
    return [ModelRun(f"Served ({bundle.model_name})", seed, metrics, seconds, params)]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


register_protocol(
    "movielens-service-cold-users",
    movielens_service_cold_users,
    description="ml-100k, 20% of users held out; their profiles asked for through RecommendationService at "
    "arrival time, vs popularity",
)
register_protocol(
    "movielens-service-cold-items",
    movielens_service_cold_items,
    description="ml-100k, 20% of items added to the store after training; ranked among themselves by the "
    "service's blended score (AUC)",
)
