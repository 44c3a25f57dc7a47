"""Benchmark protocols: named, seeded recipes that split a data set, fit every model and baseline, and
measure them with the same metrics. New protocols (e.g. `demo-simulated`) plug in via `register_protocol`.

A protocol function takes (data_dir, seed, k, fast) and returns one `ModelRun` per model for that seed;
`run_protocol` loops over seeds and wraps the runs in an `EvaluationResult`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.evaluation.datasets import (
    MovieLens100k,
    interactions_to_csr,
    load_movielens_100k,
    load_official_split,
)
from recommender.evaluation.metrics import (
    AUC,
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
from recommender.evaluation.movielens_features import item_content_features, user_demographic_features
from recommender.evaluation.results import EvaluationResult, ModelRun
from recommender.evaluation.splits import holdout_ids, random_ratio_split
from recommender.models import (
    ColdUserRankerModel,
    ContentBilinearModel,
    ContentModel,
    DemographicRidgeModel,
    EASEModel,
    ItemKNNModel,
    LightFMModel,
    PopularityModel,
    RankBlendModel,
    Recommender,
    rank_blend,
    top_k,
)

ProtocolFn = Callable[[Path | None, int, int, bool], list[ModelRun]]
SEGMENT_KINDS: tuple[str, ...] = ("age_band", "gender", "occupation")
SEGMENT_METRICS: tuple[str, ...] = ("ndcg", "recall", "precision", "hit", "auc")


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    fn: ProtocolFn
    description: str = ""
    published: dict[str, dict[str, float]] = field(default_factory=dict)


_REGISTRY: dict[str, ProtocolSpec] = {}


def register_protocol(
    name: str,
    fn: ProtocolFn,
    *,
    description: str = "",
    published: dict[str, dict[str, float]] | None = None,
    replace: bool = False,
) -> None:
    """Make `fn(data_dir, seed, k, fast) -> list[ModelRun]` runnable as `run_protocol(name, ...)`."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"protocol {name!r} is already registered (pass replace=True to override)")
    _REGISTRY[name] = ProtocolSpec(name, fn, description, dict(published or {}))


def available_protocols() -> dict[str, str]:
    """Registered protocol names with their one-line descriptions."""
    return {name: spec.description for name, spec in _REGISTRY.items()}


def run_protocol(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    seeds: Iterable[int] = (0,),
    k: int = 10,
    fast: bool = False,
) -> EvaluationResult:
    """Run protocol `name` once per seed; data_dir falls back to KEPU_DATA_DIR."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown protocol {name!r}; available: {sorted(_REGISTRY)}")
    spec = _REGISTRY[name]
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    path = Path(data_dir) if data_dir is not None else None
    runs = [run for seed in seeds for run in spec.fn(path, seed, k, fast)]
    return EvaluationResult(name, k, seeds, fast, runs, published=spec.published, notes=spec.description)


# ---------------------------------------------------------------- shared evaluation helpers


@dataclass(frozen=True)
class ListContext:
    """What beyond-accuracy metrics and slices need, aligned with the evaluated user rows."""

    item_user_counts: np.ndarray  # distinct training users per item (novelty)
    n_train_users: int
    item_vectors: np.ndarray  # dense item vectors for intra-list diversity (genre flags here)
    segments: dict[str, np.ndarray]  # segment kind -> label per evaluated user


def evaluate_scores(
    model: str,
    seed: int,
    scores: np.ndarray,
    truth: sp.csr_matrix,
    k: int,
    context: ListContext,
    *,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
    fit_seconds: float = 0.0,
    params: dict[str, Any] | None = None,
) -> ModelRun:
    """Top-k lists from `scores` (after exclude/candidates) and every metric, overall and per segment."""
    reco, _ = top_k(scores, k, exclude=exclude, candidates=candidates)
    per_user = {
        "precision": Precision(k).calc_per_user(reco, truth),
        "recall": Recall(k).calc_per_user(reco, truth),
        "ndcg": NDCG(k).calc_per_user(reco, truth),
        "mrr": MRR(k).calc_per_user(reco, truth),
        "hit": HitRate(k).calc_per_user(reco, truth),
        "auc": AUC().calc_per_user(scores, truth, exclude=exclude, candidates=candidates),
    }
    metrics = {name: float(np.nanmean(values)) for name, values in per_user.items()}
    n_catalog = len(candidates) if candidates is not None and candidates.dtype != bool else scores.shape[1]
    metrics["coverage"] = CatalogCoverage(k, n_catalog).calc(reco)
    metrics["novelty"] = Novelty(k, context.item_user_counts, context.n_train_users).calc(reco)
    metrics["diversity"] = IntraListDiversity(k, context.item_vectors).calc(reco)
    segments: dict[str, dict[str, dict[str, float]]] = {}
    for kind, labels in context.segments.items():
        means = {name: per_segment_mean(per_user[name], labels) for name in SEGMENT_METRICS}
        segments[kind] = {
            str(label): {name: float(means[name][label]) for name in SEGMENT_METRICS} for label in means["ndcg"].index
        }
    return ModelRun(model, seed, metrics, fit_seconds, params or {}, segments)


def timed_fit(model: Recommender, *args: Any, **kwargs: Any) -> float:
    """Fit and return wall seconds."""
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def _user_segments(data: MovieLens100k, user_rows: np.ndarray) -> dict[str, np.ndarray]:
    return {kind: data.users[kind].to_numpy()[user_rows] for kind in SEGMENT_KINDS}


def _genre_vectors(data: MovieLens100k, item_cols: np.ndarray | None = None) -> np.ndarray:
    vectors, _ = item_content_features(data.items, years=False, titles=False)
    dense = vectors.toarray()
    return dense if item_cols is None else dense[item_cols]


def _context(
    data: MovieLens100k, train: sp.csr_matrix, user_rows: np.ndarray, item_cols: np.ndarray | None = None
) -> ListContext:
    counts = np.asarray((train > 0).sum(axis=0)).ravel()
    return ListContext(counts, train.shape[0], _genre_vectors(data, item_cols), _user_segments(data, user_rows))


def _users_with_truth(truth: sp.csr_matrix) -> np.ndarray:
    return np.flatnonzero(np.diff(sp.csr_matrix(truth).indptr) > 0)


def tune_ease(train: sp.csr_matrix, valid: sp.csr_matrix, grid: Iterable[float], k: int) -> tuple[float, dict]:
    """λ with the best validation NDCG@k (train items excluded); returns (λ, {λ: ndcg})."""
    users = _users_with_truth(valid)
    found = {}
    for lam in grid:
        reco, _ = EASEModel(lam).fit(train).recommend(users, k, exclude=train[users])
        found[float(lam)] = NDCG(k).calc(reco, valid[users])
    return max(found, key=found.__getitem__), found


def _run(
    model_name: str,
    model: Recommender,
    seed: int,
    train: sp.csr_matrix,
    truth: sp.csr_matrix,
    exclude: sp.csr_matrix | None,
    k: int,
    data: MovieLens100k,
    fit_seconds: float | None = None,
    extra: dict[str, Any] | None = None,
    unfiltered: bool = False,
    **fit_kwargs: Any,
) -> ModelRun:
    """Fit (timed), score the users that have truth, evaluate. `unfiltered` adds precision/AUC computed
    WITHOUT removing `exclude` items (`precision_unfiltered`, `auc_unfiltered`), as LightFM's example does."""
    seconds = timed_fit(model, train, **fit_kwargs) if fit_seconds is None else fit_seconds
    users = _users_with_truth(truth)
    scores = model.score(users)
    run = evaluate_scores(
        model_name,
        seed,
        scores,
        truth[users],
        k,
        _context(data, train, users),
        exclude=None if exclude is None else exclude[users],
        fit_seconds=seconds,
        params={**model.get_params(), **(extra or {})},
    )
    if unfiltered:
        reco, _ = top_k(scores, k)
        run.metrics["precision_unfiltered"] = Precision(k).calc(reco, truth[users])
        run.metrics["auc_unfiltered"] = AUC().calc(scores, truth[users])
    return run


# ---------------------------------------------------------------- MovieLens protocols


def movielens_recbole(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """RecBole general-recommendation setting on ml-100k (see module docs and docs/evaluation.md).

    Every rating is a positive; per-user random 0.8/0.1/0.1 split (RecBole RO, seeded). Models are fit on
    train only; validation picks hyper-parameters; the test ranking is over all items with train AND
    validation items of the user removed (RecBole masks the whole history before the test part).
    """
    data = load_movielens_100k(data_dir)
    train_rows, valid_rows, test_rows = random_ratio_split(data.ratings["user_idx"].to_numpy(), (0.8, 0.1, 0.1), seed)
    train, valid, test = (data.interaction_matrix(r) for r in (train_rows, valid_rows, test_rows))
    history = (train + valid).tocsr()
    history.data[:] = 1.0
    runs = []

    start = time.perf_counter()
    lam, found = tune_ease(train, valid, (200.0, 500.0) if fast else (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0), k)
    tuning = time.perf_counter() - start
    runs.append(
        _run(
            "EASE",
            EASEModel(lam),
            seed,
            train,
            test,
            history,
            k,
            data,
            extra={"tuning_seconds": tuning, "valid_ndcg_by_lambda": found},
        )
    )

    users_v = _users_with_truth(valid)

    def valid_ndcg(model: Recommender) -> float:
        return NDCG(k).calc(model.recommend(users_v, k, exclude=train[users_v])[0], valid[users_v])

    knn_grid = [(100, 10.0)] if fast else [(50, 10.0), (100, 10.0), (200, 10.0), (100, 50.0)]
    best_knn = max(knn_grid, key=lambda p: valid_ndcg(ItemKNNModel(*p).fit(train)))
    runs.append(_run("ItemKNN", ItemKNNModel(*best_knn), seed, train, test, history, k, data))

    ease = EASEModel(lam)
    lightfm = kepu_lightfm(seed, fast)
    runs.append(_run("LightFM-WARP", lightfm, seed, train, test, history, k, data))
    if not fast:
        bpr = LightFMModel(
            no_components=64,
            loss="bpr",
            epochs=30,
            learning_rate=0.03,
            item_alpha=1e-5,
            user_alpha=1e-5,
            random_state=seed,
        )
        runs.append(_run("LightFM-BPR", bpr, seed, train, test, history, k, data))
        # rank blend of the two best families; its weight is picked on validation like every other knob
        ease_seconds = timed_fit(ease, train)
        blends = {w: RankBlendModel([ease, lightfm], [1 - w, w], prefitted=True).fit(train) for w in (0.2, 0.35)}
        best_w = max(blends, key=lambda w: valid_ndcg(blends[w]))
        runs.append(
            _run(
                "RankBlend(EASE+LightFM)",
                blends[best_w],
                seed,
                train,
                test,
                history,
                k,
                data,
                fit_seconds=ease_seconds + runs[-2].fit_seconds,
                extra={"lightfm_weight": best_w},
            )
        )
    runs.append(_run("Popularity", PopularityModel(), seed, train, test, history, k, data))
    return runs


def kepu_lightfm(seed: int, fast: bool) -> LightFMModel:
    """Kepu's LightFM-WARP setting, chosen on the recbole protocol's validation part (seed 0):
    64 components, light L2 (1e-5) and lr 0.03 for 30 epochs; `fast` = 10 unregularised epochs at lr 0.05."""
    if fast:
        return LightFMModel(no_components=64, loss="warp", epochs=10, learning_rate=0.05, random_state=seed)
    return LightFMModel(
        no_components=64,
        loss="warp",
        epochs=30,
        learning_rate=0.03,
        item_alpha=1e-5,
        user_alpha=1e-5,
        random_state=seed,
    )


def movielens_lightfm(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """LightFM's implicit example: ua.base / ua.test, every rating a positive.

    Main metrics exclude train items from the ranking (Kepu always filters what a user has seen).
    LightFM's published numbers come from `precision_at_k(model, test)` / `auc_score(model, test)`
    WITHOUT `train_interactions`, i.e. train items stay in the ranking: those are reported as
    `precision_unfiltered` / `auc_unfiltered` for a like-for-like comparison. `LightFM-*-docs` use the
    documented configuration (10 components, lr 0.05, 10 epochs). EASE's λ is tuned on a per-user random
    10% of ua.base (never on ua.test).
    """
    data = load_movielens_100k(data_dir)
    base, test_frame = load_official_split(data, "ua")

    def to_csr(frame: Any) -> sp.csr_matrix:
        return interactions_to_csr(
            frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy(), data.n_users, data.n_items
        )

    train, test = to_csr(base), to_csr(test_frame)
    inner_rows, tune_rows = random_ratio_split(base["user_idx"].to_numpy(), (0.9, 0.1), seed)
    start = time.perf_counter()
    grid = (200.0, 500.0) if fast else (100.0, 200.0, 400.0, 800.0, 1600.0)
    lam, found = tune_ease(to_csr(base.iloc[inner_rows]), to_csr(base.iloc[tune_rows]), grid, k)
    tuning = time.perf_counter() - start
    docs = {"no_components": 10, "learning_rate": 0.05, "epochs": 10, "random_state": seed}
    models: list[tuple[str, Recommender, dict[str, Any]]] = [
        ("LightFM-WARP-docs", LightFMModel(loss="warp", **docs), {}),
        ("LightFM-BPR-docs", LightFMModel(loss="bpr", **docs), {}),
        ("EASE", EASEModel(lam), {"tuning_seconds": tuning, "valid_ndcg_by_lambda": found}),
        ("LightFM-WARP", kepu_lightfm(seed, fast), {}),
        ("Popularity", PopularityModel(), {}),
    ]
    if fast:
        models = [m for m in models if m[0] != "LightFM-BPR-docs"]
    return [
        _run(name, model, seed, train, test, train, k, data, extra=extra, unfiltered=True)
        for name, model, extra in models
    ]


def movielens_cold_items(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """20% of items, with all their ratings, are held out; each user's held-out items are ranked among all
    held-out items from content only (genres, release-year buckets, title words). Models never see a
    held-out item's interactions, and the title vocabulary comes from warm items only."""
    data = load_movielens_100k(data_dir)
    warm, cold = holdout_ids(data.n_items, 0.2, seed)
    full = data.interaction_matrix()
    train, truth_all = full[:, warm].tocsr(), full[:, cold].tocsr()
    users = _users_with_truth(truth_all)
    truth = truth_all[users]
    genres, _ = item_content_features(data.items, years=False, titles=False)
    genre_year, _ = item_content_features(data.items, titles=False)
    rich, _ = item_content_features(data.items, vocabulary_rows=warm)
    counts = np.zeros(len(cold))  # held-out items have no training users by construction
    context = ListContext(counts, data.n_users, _genre_vectors(data, cold), _user_segments(data, users))
    epochs = 10 if fast else 30
    candidates: list[tuple[str, Any, sp.csr_matrix]] = [
        (
            "LightFM-genres",
            LightFMModel(no_components=32, epochs=epochs, item_identity=False, random_state=seed),
            genres,
        ),
        (
            "LightFM-genres+years",
            LightFMModel(no_components=64, epochs=epochs, item_identity=False, random_state=seed),
            genre_year,
        ),
        ("Content-genres+years", ContentModel(), genre_year),
        ("ContentBilinear-genres+years", ContentBilinearModel(100.0), genre_year),
        ("ContentBilinear-genres+years+titles", ContentBilinearModel(300.0), rich),
    ]
    if fast:
        candidates = [c for c in candidates if c[0] in {"LightFM-genres", "ContentBilinear-genres+years"}]
    runs = []
    for name, model, features in candidates:
        seconds = timed_fit(model, train, item_features=features[warm])
        scores = model.score_new_items(users, features[cold])
        runs.append(
            evaluate_scores(name, seed, scores, truth, k, context, fit_seconds=seconds, params=model.get_params())
        )
    if len(runs) > 1 and not fast:
        blend = rank_blend(
            [
                model.score_new_items(users, feats[cold])
                for name, model, feats in candidates
                if name in {"LightFM-genres+years", "ContentBilinear-genres+years"}
            ]
        )
        fit_s = sum(r.fit_seconds for r in runs if r.model in {"LightFM-genres+years", "ContentBilinear-genres+years"})
        runs.append(
            evaluate_scores(
                "RankBlend(LightFM+Bilinear)-genres+years", seed, blend, truth, k, context, fit_seconds=fit_s
            )
        )
    return runs


def movielens_cold_users(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """20% of users, with all their ratings, are held out; they are ranked all items knowing only their
    demographics (age band, gender, occupation) and — for ColdUserRanker only — their arrival time (first
    event timestamp: a live system knows when a new user arrives; only warm events before it are used).
    Nothing is excluded (they have no history)."""
    data = load_movielens_100k(data_dir)
    kept, held = holdout_ids(data.n_users, 0.2, seed)
    full = data.interaction_matrix()
    train, truth = full[kept].tocsr(), full[held].tocsr()
    demo, _ = user_demographic_features(data.users)
    context = ListContext(
        np.asarray((train > 0).sum(axis=0)).ravel(),
        train.shape[0],
        _genre_vectors(data),
        _user_segments(data, held),
    )
    runs = []
    pop = PopularityModel()
    seconds = timed_fit(pop, train)
    runs.append(
        evaluate_scores(
            "Popularity",
            seed,
            pop.score(np.zeros(len(held), dtype=np.int64)),
            truth,
            k,
            context,
            fit_seconds=seconds,
            params=pop.get_params(),
        )
    )
    for kind in ("age_band", "gender", "occupation"):
        labels = data.users[kind].to_numpy()
        start = time.perf_counter()
        seg = PopularityModel().fit(train).fit_segments(labels[kept])
        seconds = time.perf_counter() - start
        runs.append(
            evaluate_scores(
                f"SegmentPopularity-{kind}",
                seed,
                seg.score_segments(labels[held]),
                truth,
                k,
                context,
                fit_seconds=seconds,
                params=seg.get_params(),
            )
        )
    ridge = DemographicRidgeModel(100.0)
    seconds = timed_fit(ridge, train, user_features=demo[kept])
    runs.append(
        evaluate_scores(
            "DemographicRidge",
            seed,
            ridge.score_new_users(demo[held]),
            truth,
            k,
            context,
            fit_seconds=seconds,
            params=ridge.get_params(),
        )
    )
    runs.append(_cold_user_ranker_run(data, kept, held, truth, seed, k, context, fast))
    if not fast:
        lfm = LightFMModel(no_components=32, epochs=20, user_identity=False, random_state=seed)
        seconds = timed_fit(lfm, train, user_features=demo[kept])
        runs.append(
            evaluate_scores(
                "LightFM-demographics",
                seed,
                lfm.score_new_users(demo[held]),
                truth,
                k,
                context,
                fit_seconds=seconds,
                params=lfm.get_params(),
            )
        )
    return runs


def _cold_user_ranker_run(
    data: MovieLens100k,
    kept: np.ndarray,
    held: np.ndarray,
    truth: sp.csr_matrix,
    seed: int,
    k: int,
    context: ListContext,
    fast: bool,
) -> ModelRun:
    """ColdUserRanker: segment shrinkage picked on an inner 80/20 user split of the WARM users (the inner
    validation users are ranked from the inner-train users, strictly as cold users); the request time of a
    held-out user is their first event's timestamp, and only warm events before it feed the time features."""
    ratings = data.ratings
    stamps = interactions_to_csr(
        ratings["user_idx"].to_numpy(),
        ratings["item_idx"].to_numpy(),
        data.n_users,
        data.n_items,
        weights=ratings["timestamp"].to_numpy(dtype=np.float64),
    )
    full = data.interaction_matrix()
    arrival = ratings.groupby("user_idx")["timestamp"].min().reindex(range(data.n_users)).to_numpy(np.float64)
    labels = {kind: data.users[kind].to_numpy() for kind in SEGMENT_KINDS}

    def fitted(users: np.ndarray, shrinkage: float) -> ColdUserRankerModel:
        model = ColdUserRankerModel(segment_shrinkage=shrinkage, random_state=seed)
        return model.fit(full[users], segments={kd: v[users] for kd, v in labels.items()}, timestamps=stamps[users])

    start = time.perf_counter()
    grid = (500.0,) if fast else (50.0, 500.0)
    found: dict[float, float] = {}
    if len(grid) > 1:
        inner_kept, inner_held = (kept[ids] for ids in holdout_ids(len(kept), 0.2, seed))
        for shrinkage in grid:
            scores = fitted(inner_kept, shrinkage).score_new_users(
                {kd: v[inner_held] for kd, v in labels.items()}, arrival[inner_held]
            )
            found[shrinkage] = NDCG(k).calc(top_k(scores, k)[0], full[inner_held])
    best = max(found, key=found.__getitem__) if found else grid[0]
    tuning = time.perf_counter() - start
    start = time.perf_counter()
    model = fitted(kept, best)
    seconds = time.perf_counter() - start
    scores = model.score_new_users({kd: v[held] for kd, v in labels.items()}, arrival[held])
    params = {**model.get_params(), "tuning_seconds": tuning, "inner_ndcg_by_shrinkage": found}
    return evaluate_scores("ColdUserRanker", seed, scores, truth, k, context, fit_seconds=seconds, params=params)


register_protocol(
    "movielens-recbole",
    movielens_recbole,
    description="ml-100k, all ratings positive, per-user random 0.8/0.1/0.1 split, full ranking, "
    "train+valid items excluded at test (RecBole general recommendation)",
    published={
        "RecBole BPR (docs)": {
            "recall": 0.2523,
            "mrr": 0.4855,
            "ndcg": 0.2920,
            "hit": 0.7953,
            "precision": 0.1962,
        }
    },
)
register_protocol(
    "movielens-lightfm",
    movielens_lightfm,
    description="ml-100k ua.base/ua.test, all ratings positive, train items excluded (LightFM example)",
    published={
        "LightFM WARP (docs, unfiltered)": {"precision_unfiltered": 0.11, "auc_unfiltered": 0.90},
        "LightFM BPR (docs, unfiltered)": {"precision_unfiltered": 0.10, "auc_unfiltered": 0.86},
    },
)
register_protocol(
    "movielens-cold-items",
    movielens_cold_items,
    description="ml-100k, 20% of items held out with their ratings; rank held-out items from content only",
    published={"LightFM genres-only (typical)": {"auc": 0.69}},
)
register_protocol(
    "movielens-cold-users",
    movielens_cold_users,
    description="ml-100k, 20% of users held out; rank all items from demographics only",
)
