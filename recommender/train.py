"""Training pipeline: store → interaction matrix, user/item features, LightFM hybrid (WARP), audience
popularity and trending priors → a versioned, checksummed model bundle registered in the store.

Reproducible: the same data and seed give the same bundle arrays (single-threaded LightFM, seeded
k-means and encoder). Metrics in the manifest come from a temporal holdout (the last `holdout_fraction`
of events) scored by a model fitted on the earlier events; the shipped model is then fitted on all data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from content_catalog.schema import Item, User
from content_catalog.taxonomy import AUDIENCES
from features.interactions import SESSION_PREFIX, InteractionMatrixBuilder, Interactions
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder
from recommender.models.base import top_k
from recommender.models.lightfm_model import LightFMModel
from recommender.registry import Bundle, BundleError, load_bundle, register, save_bundle


class TrainableEncoder(Protocol):
    def fit(self, texts: Sequence[str]) -> Any: ...
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class TrainParams:
    """Knobs of the pipeline (all recorded in the manifest)."""

    no_components: int = 32
    epochs: int = 20
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    half_life_days: float = 30.0
    trending_half_life_days: float = 3.0
    n_text_clusters: int = 16
    holdout_fraction: float = 0.1
    eval_k: int = 10


def _users_for(keys: Sequence[str], known: dict[str, User]) -> list[User]:
    """A `User` per matrix row; anonymous sessions / unregistered ids get an attribute-less user."""
    out = []
    for key in keys:
        if key in known:
            out.append(known[key])
        else:
            out.append(User(id=key if not key.startswith(SESSION_PREFIX) else key.replace(":", "_", 1)))
    return out


def _audience_popularity(inter: Interactions, users: Sequence[User]) -> np.ndarray:
    """(n_audiences, n_items): each audience's decayed interaction mass, smoothed with the global mass."""
    matrix = inter.matrix
    overall = np.asarray(matrix.sum(axis=0)).ravel()
    overall = overall / overall.max() if overall.max() > 0 else overall
    out = np.zeros((len(AUDIENCES), matrix.shape[1]), dtype=np.float32)
    for a, audience in enumerate(AUDIENCES):
        rows = np.array([i for i, u in enumerate(users) if audience in (u.audiences or ["public"])], dtype=np.int64)
        mass = np.asarray(matrix[rows].sum(axis=0)).ravel() if len(rows) else np.zeros(matrix.shape[1])
        mass = mass / mass.max() if mass.max() > 0 else mass
        out[a] = 0.75 * mass + 0.25 * overall
    return out


def _fit_model(
    inter: Interactions, user_x: sp.csr_matrix, item_x: sp.csr_matrix, params: TrainParams, seed: int
) -> LightFMModel:
    model = LightFMModel(
        no_components=params.no_components,
        loss="warp",
        learning_rate=params.learning_rate,
        item_alpha=params.item_alpha,
        user_alpha=params.user_alpha,
        epochs=params.epochs,
        num_threads=1,
        random_state=seed,
    )
    return model.fit(inter.matrix, user_features=user_x, item_features=item_x)


def _holdout_metrics(
    events: pd.DataFrame,
    item_ids: list[str],
    user_x_for: Any,
    item_x: sp.csr_matrix,
    params: TrainParams,
    seed: int,
) -> dict[str, float]:
    """Precision/recall/NDCG@k of the hybrid model vs. global popularity on a temporal holdout."""
    from recommender.evaluation.metrics import NDCG, Precision, Recall

    if len(events) < 50 or params.holdout_fraction <= 0:
        return {}
    cutoff = events["timestamp"].quantile(1.0 - params.holdout_fraction)
    train_ev, test_ev = events[events["timestamp"] < cutoff], events[events["timestamp"] >= cutoff]
    builder = InteractionMatrixBuilder(half_life_days=params.half_life_days).fit(train_ev, item_ids=item_ids)
    train = builder.transform(train_ev)
    test = InteractionMatrixBuilder(half_life_days=None).fit(train_ev, item_ids=item_ids).transform(test_ev)
    truth = (test.matrix > 0).astype(np.float32) - (test.matrix > 0).multiply(train.matrix > 0)
    truth = sp.csr_matrix(truth, dtype=np.float32)
    truth.eliminate_zeros()
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if len(users) == 0 or train.matrix.nnz == 0:
        return {}
    model = _fit_model(train, user_x_for(train.user_map.to_list()), item_x, params, seed)
    k = params.eval_k
    reco, _ = model.recommend(users, k, exclude=train.matrix[users])
    pop = np.asarray(train.matrix.sum(axis=0), dtype=np.float32)
    pop_reco, _ = top_k(np.repeat(pop, len(users), axis=0), k, exclude=train.matrix[users])
    t = truth[users]
    out = {"holdout_users": float(len(users))}
    for name, metric in (("precision", Precision(k)), ("recall", Recall(k)), ("ndcg", NDCG(k))):
        out[f"{name}@{k}"] = round(float(metric.calc(reco, t)), 5)
        out[f"popularity_{name}@{k}"] = round(float(metric.calc(pop_reco, t)), 5)
    return out


def train_bundle_from_data(
    items: Sequence[Item],
    events: pd.DataFrame,
    users: Sequence[User],
    encoder: TrainableEncoder,
    out_dir: Path | str,
    seed: int = 42,
    *,
    params: TrainParams | None = None,
    version: str | None = None,
    encoder_spec: str = "custom",
    now: datetime | None = None,
    data_as_of: datetime | None = None,
) -> Bundle:
    """The pipeline on in-memory data (the store-backed `train_bundle` and the demo protocol call this).

    `encoder` must already be fitted (or be fitted here when it has `fit`) and give L2-normalised rows.
    `data_as_of`: when the events were read (kept in the manifest: a user erased after it is ignored
    by the live service until the next training).
    """
    params = params or TrainParams()
    _check_version_free(out_dir, version)
    if not items:
        raise ValueError("train: the catalog is empty")
    if events.empty:
        raise ValueError("train: no events to learn from")
    items = sorted(items, key=lambda it: it.id)
    item_ids = [it.id for it in items]
    vectors = np.asarray(encoder.encode([it.text for it in items]), dtype=np.float32)
    item_builder = ItemFeatureBuilder(
        n_text_clusters=params.n_text_clusters, identity=False, normalize=False, random_state=seed
    ).fit(items, vectors)
    item_x = item_builder.transform(items, vectors)
    events = events.sort_values(["timestamp", "event_id"], kind="stable").reset_index(drop=True)
    inter = InteractionMatrixBuilder(half_life_days=params.half_life_days, now=now).fit_transform(
        events, item_ids=item_ids
    )
    known = {u.id: u for u in users}
    user_builder = UserFeatureBuilder(identity=False, normalize=False).fit([])

    def user_x_for(keys: list[str]) -> sp.csr_matrix:
        return user_builder.transform(_users_for(keys, known))

    metrics = _holdout_metrics(events, item_ids, user_x_for, item_x, params, seed)
    row_users = _users_for(inter.user_map.to_list(), known)
    model = _fit_model(inter, user_builder.transform(row_users), item_x, params, seed)
    lfm = model.model_
    n_users, n_items = inter.matrix.shape
    trend = (
        InteractionMatrixBuilder(half_life_days=params.trending_half_life_days, now=now)
        .fit_transform(events, item_ids=item_ids)
        .matrix
    )
    trending = np.asarray(trend.sum(axis=0), dtype=np.float32).ravel()
    arrays = {
        "item_embeddings": model.item_vectors_,
        "item_biases": model.item_biases_,
        "user_embeddings": model.user_vectors_,
        "user_biases": model.user_biases_,
        "user_feature_embeddings": lfm.user_embeddings[n_users:].astype(np.float32),
        "user_feature_biases": lfm.user_biases[n_users:].astype(np.float32),
        "item_feature_embeddings": lfm.item_embeddings[n_items:].astype(np.float32),
        "item_feature_biases": lfm.item_biases[n_items:].astype(np.float32),
        "popularity": _audience_popularity(inter, row_users),
        "trending": trending / trending.max() if trending.max() > 0 else trending,
        "user_counts": np.diff(inter.matrix.indptr).astype(np.int32),
    }
    version = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-s{seed}"
    counts = {
        "items": n_items,
        "users": n_users,
        "events": len(events),
        "events_used": inter.n_events_used,
        "interactions": int(inter.matrix.nnz),
        "negative_pairs": int(inter.negatives.nnz),
        "registered_users": len(known),
    }
    folder = save_bundle(
        Path(out_dir),
        version,
        arrays=arrays,
        item_map=inter.item_map,
        user_map=inter.user_map,
        user_features=user_builder,
        item_features=item_builder,
        audiences=list(AUDIENCES),
        manifest_extra={
            "seed": seed,
            "encoder": encoder_spec,
            "params": asdict(params),
            "data_counts": counts,
            "metrics": metrics,
            "model": "lightfm-warp",
            "data_as_of": (data_as_of or datetime.now(UTC)).isoformat(),
        },
    )
    return load_bundle(folder)


def _check_version_free(out_dir: Path | str, version: str | None) -> None:
    """Fail before any work when the version folder exists (bundles are immutable)."""
    if version is not None and (Path(out_dir) / version).exists():
        raise BundleError(f"train: {Path(out_dir) / version} already exists (versions are immutable)")


def _make_encoder(
    spec: str | TrainableEncoder, texts: list[str], seed: int, options: Mapping[str, Any] | None
) -> tuple[TrainableEncoder, str]:
    """An already fitted encoder as is; a spec → `make_encoder(spec, **options)` fitted on the catalog
    (tfidf-svd gets `random_state=seed` unless the options set it)."""
    if not isinstance(spec, str):
        return spec, str(getattr(spec, "spec", type(spec).__name__))
    from content_catalog.encoders import make_encoder

    kwargs = dict(options or {})
    if spec == "tfidf-svd":
        kwargs.setdefault("random_state", seed)
    encoder = make_encoder(spec, **kwargs)
    encoder.fit(texts)
    return encoder, spec


def train_bundle(
    store: Any,
    encoder_spec: str | TrainableEncoder = "tfidf-svd",
    out_dir: Path | str = "var/models",
    seed: int = 42,
    *,
    params: TrainParams | None = None,
    version: str | None = None,
    now: datetime | None = None,
    register_version: bool = True,
    encoder_options: Mapping[str, Any] | None = None,
) -> Bundle:
    """Train from everything in the store and register the bundle (`store.add_model_version`).

    `encoder_spec`: a spec for `make_encoder` (fitted here on the catalog texts, id order, with
    `encoder_options` e.g. `{"dim": 256}`) or an already fitted encoder. The new version is registered
    but not activated (use `registry.activate`).
    """
    _check_version_free(out_dir, version)
    data_as_of = datetime.now(UTC)  # before reading: an erasure from here on must not trust this bundle
    items = list(store.iter_items())
    events = store.events_frame()
    user_ids = sorted({str(u) for u in events["user_id"].dropna()}) if len(events) else []
    users = [u for u in (store.get_user(uid) for uid in user_ids) if u is not None]
    texts = [it.text for it in sorted(items, key=lambda i: i.id)]
    encoder, spec_name = _make_encoder(encoder_spec, texts, seed, encoder_options)
    bundle = train_bundle_from_data(
        items,
        events,
        users,
        encoder,
        out_dir,
        seed,
        params=params,
        version=version,
        encoder_spec=spec_name,
        now=now,
        data_as_of=data_as_of,
    )
    if register_version:
        register(store, bundle)
    return bundle
