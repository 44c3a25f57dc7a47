"""`movielens-service`: evaluate what a visitor is served, not only the model.

MovieLens (ml-100k layout) is loaded into a real Kepu store (`movielens_store`: movies → items, users →
profiles, ratings → events), trained by `recommender.train.train_bundle` — the code behind `kepu train`
— and every test user is asked for through `RecommendationService.recommend` (k, seen filtering, the
fitted blend, freshness, MMR and reasons all on), under the RecBole split and metrics of
`movielens-recbole`:

- the store holds the train part; training validates on the RecBole validation part (model choice and
  blend fit), like RecBole tunes on it; ratings are not time-decayed (RecBole treats them alike);
- the validation part is then posted as events (a live service knows them: seen filtering masks
  train + validation, as RecBole masks the history before the test part);
- "Served" is the online list; "Bare <model>" the same trained ranker scoring all items from the train
  history only (RecBole's view); "Popularity" the train popularity; each "Served without X" row switches
  one online stage off (a blend source, freshness, or MMR) to show what it costs or gains.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from content_catalog.encoders import make_encoder
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from features.interactions import events_to_frame
from recommender.cursor import MemorySnapshotCache
from recommender.evaluation.datasets import MovieLens100k, load_movielens_100k
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
from recommender.evaluation.movielens_store import item_ids_of, movie_items, movie_users, rating_events, user_id
from recommender.evaluation.protocols import (
    _context,
    _users_with_truth,
    evaluate_scores,
    register_protocol,
)
from recommender.evaluation.results import ModelRun
from recommender.evaluation.splits import random_ratio_split
from recommender.models import EASEModel, PopularityModel
from recommender.rankers import score_users
from recommender.registry import Bundle
from recommender.service import RecommendationRequest, RecommendationService, ServiceSettings
from recommender.train import TrainParams, train_bundle

ENCODER_DIM = 64
FAST_USERS = 150
"""Test users served in fast mode (a seeded sample; the CI guard) — all of them otherwise."""
ABLATION_USERS = 300
"""Test users (a seeded sample) each ablation serves; the served list is re-measured on the same sample."""
FAST_MODEL = "ease"
"""Fast mode trains one model (the strongest bare model of docs/evaluation.md) instead of `auto`."""
HISTORY_LIMIT = 2_000
"""Longer than any MovieLens history (737 ratings at most), so seen filtering is complete."""
ABLATIONS: dict[str, dict[str, Any]] = {
    "without MMR": {"mmr_lambda": 1.0},
    "without freshness": {"freshness_weight": 0.0},
    "without content source": {"sources_off": ("content",)},
    "without audience popularity": {"sources_off": ("audience",)},
    "without trending": {"sources_off": ("trending",)},
    "without audience tag / local": {"sources_off": ("tag", "local")},
    "model source only": {"sources_off": ("content", "audience", "trending", "tag", "local")},
}


def list_run(
    name: str, seed: int, reco: np.ndarray, truth: sp.csr_matrix, k: int, context: Any, seconds: float, params: dict
) -> ModelRun:
    """Every list metric of served top-k lists (AUC needs full score rows: not defined for a served list)."""
    per_user = {
        "precision": Precision(k).calc_per_user(reco, truth),
        "recall": Recall(k).calc_per_user(reco, truth),
        "ndcg": NDCG(k).calc_per_user(reco, truth),
        "mrr": MRR(k).calc_per_user(reco, truth),
        "hit": HitRate(k).calc_per_user(reco, truth),
    }
    metrics = {m: float(np.nanmean(v)) for m, v in per_user.items()}
    metrics["coverage"] = CatalogCoverage(k, truth.shape[1]).calc(reco)
    metrics["novelty"] = Novelty(k, context.item_user_counts, context.n_train_users).calc(reco)
    metrics["diversity"] = IntraListDiversity(k, context.item_vectors).calc(reco)
    segments = {
        kind: {
            str(label): {m: float(per_segment_mean(v, labels)[label]) for m, v in per_user.items()}
            for label in np.unique(labels)
        }
        for kind, labels in context.segments.items()
    }
    return ModelRun(name, seed, metrics, seconds, params, segments)


def serve_lists(
    service: RecommendationService, users: Sequence[int], k: int, now: Any, column_of: dict[str, int]
) -> tuple[np.ndarray, float]:
    """(reco (n_users × k) of MovieLens item indices, padded −1; mean seconds per request)."""
    reco = np.full((len(users), k), -1, dtype=np.int64)
    start = time.perf_counter()
    for row, user in enumerate(users):
        request = RecommendationRequest(user_id=user_id(user + 1), k=k, now=now, explain=True)
        ids = [card.id for card in service.recommend(request).items]
        reco[row, : len(ids)] = [column_of[i] for i in ids]
    return reco, (time.perf_counter() - start) / max(1, len(users))


def bare_scores(bundle: Bundle, data: MovieLens100k, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
    """The trained ranker's scores over all items in MovieLens order, from the given history rows."""
    cols = np.array([bundle.item_map.get(i) for i in item_ids_of(data)], dtype=np.int64)
    rows = np.array([bundle.user_map.get(user_id(u + 1)) for u in users], dtype=np.int64)
    dense = history[users].toarray()
    known = cols >= 0
    full = np.zeros((len(users), len(bundle.item_map)), np.float32)
    full[:, cols[known]] = dense[:, known]
    scores = score_users(bundle.ranker, rows, sp.csr_matrix(full))
    out = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
    out[:, known] = np.nan_to_num(scores[:, cols[known]], nan=-np.inf)
    return out


@dataclass(frozen=True)
class ServiceRun:
    """How much of the protocol to run: `test_users` (None: every test user) served, `model` trained
    (`auto` or a ranker name), `validation_users` for its selection and blend fit, `ablation_users`
    (0: none) each ablation serves."""

    test_users: int | None
    model: str
    validation_users: int
    ablation_users: int


FAST_RUN = ServiceRun(FAST_USERS, FAST_MODEL, 80, 0)
FULL_RUN = ServiceRun(None, "auto", 300, ABLATION_USERS)


def movielens_service(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    return run_service(data_dir, seed, k, FAST_RUN if fast else FULL_RUN)


def run_service(data_dir: Path | None, seed: int, k: int, config: ServiceRun) -> list[ModelRun]:
    """The protocol at a given size (`movielens_service` is its fast and full setting)."""
    data = load_movielens_100k(data_dir)
    train_rows, valid_rows, test_rows = random_ratio_split(data.ratings["user_idx"].to_numpy(), (0.8, 0.1, 0.1), seed)
    train, valid, test = (data.interaction_matrix(r) for r in (train_rows, valid_rows, test_rows))
    history = (train + valid).tocsr()
    history.data[:] = 1.0
    users = _users_with_truth(test)
    if config.test_users is not None and len(users) > config.test_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=config.test_users, replace=False))
    truth = test[users]
    context = _context(data, train, users)
    items = movie_items(data)
    column_of = {iid: col for col, iid in enumerate(item_ids_of(data))}
    now = data.ratings["timestamp"].max()
    with tempfile.TemporaryDirectory(prefix="kepu-ml-service-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'kepu.db'}")
        try:
            store.upsert_items(items, actor="movielens")
            for user in movie_users(data):
                store.upsert_user(user)
            store.add_events(rating_events(data, train_rows))
            encoder = make_encoder("tfidf-svd", dim=ENCODER_DIM, random_state=seed)
            texts = [it.text for it in items]
            encoder.fit(texts)
            vectors = encoder.encode(texts)
            start = time.perf_counter()
            bundle = train_bundle(
                store,
                encoder,
                Path(tmp) / "models",
                seed,
                params=TrainParams(half_life_days=None, max_validation_users=config.validation_users),
                version=f"movielens-s{seed}",
                register_version=False,
                model=config.model,
                validation_events=events_to_frame(rating_events(data, valid_rows)),
            )
            train_seconds = time.perf_counter() - start
            store.add_events(rating_events(data, valid_rows))
            index = VectorIndex(ENCODER_DIM)
            index.add([it.id for it in items], vectors)
            request_time = _as_datetime(now) + timedelta(seconds=1)
            base = ServiceSettings(history_limit=HISTORY_LIMIT)
            selection = bundle.manifest.get("selection", {})
            params = {"model": bundle.model_name, "selection": selection, "train_seconds": round(train_seconds, 2)}
            runs = []
            service = _service(store, bundle, encoder, index, base)
            reco, per_request = serve_lists(service, users, k, request_time, column_of)
            served = {**params, "ms_per_request": round(per_request * 1000, 2)}
            runs.append(list_run(f"Served ({bundle.model_name})", seed, reco, truth, k, context, train_seconds, served))
            scores = bare_scores(bundle, data, users, train)
            runs.append(
                evaluate_scores(
                    f"Bare {bundle.model_name}",
                    seed,
                    scores,
                    truth,
                    k,
                    context,
                    exclude=history[users],
                    params={"model": bundle.model_name},
                )
            )
            popularity = PopularityModel().fit(train)
            runs.append(
                evaluate_scores("Popularity", seed, popularity.score(users), truth, k, context, exclude=history[users])
            )
            if bundle.model_name != "ease":  # the strongest single bare model, for reference
                ease = EASEModel(TrainParams().ease_regularization).fit(train)
                runs.append(
                    evaluate_scores("Bare ease", seed, ease.score(users), truth, k, context, exclude=history[users])
                )
            if config.ablation_users:
                size = min(config.ablation_users, len(users))
                sample = np.sort(np.random.default_rng(seed).choice(len(users), size, replace=False))
                sample_context = _context(data, train, users[sample])
                for label, change in {"(ablation sample)": {}, **ABLATIONS}.items():
                    ablated = _service(store, bundle, encoder, index, replace(base, **change))
                    reco, _ = serve_lists(ablated, users[sample], k, request_time, column_of)
                    name = f"Served {label}"
                    runs.append(list_run(name, seed, reco, truth[sample], k, sample_context, 0.0, change))
        finally:
            store.close()
    return runs


def _service(store: Store, bundle: Bundle, encoder: Any, index: VectorIndex, settings: ServiceSettings) -> Any:
    """The online service; cursor snapshots in memory (paging is not measured here, ranking is)."""
    snapshots = MemorySnapshotCache(settings.snapshot_max_entries, settings.snapshot_ttl_seconds)
    return RecommendationService(store, bundle, encoder, index, settings=settings, snapshots=snapshots)


def _as_datetime(epoch_seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC)


register_protocol(
    "movielens-service",
    movielens_service,
    description="ml-100k loaded into a Kepu store, trained by kepu train's code, served by "
    "RecommendationService for every test user (RecBole split and metrics), with per-stage ablations",
    published={"RecBole BPR (docs)": {"ndcg": 0.2920, "recall": 0.2523, "mrr": 0.4855, "hit": 0.7953}},
)
