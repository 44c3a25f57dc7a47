"""Training pipeline: store → interaction matrix, user/item features, a ranker chosen by the *served*
list's validation NDCG (`--model auto`) or named (`--model NAME`), its online blend fitted on validation,
audience popularity and trending priors → a versioned, checksummed model bundle registered in the store.

Validation is the last `holdout_fraction` of the store's events in time (or explicit validation events,
as the RecBole protocol passes): candidates are trained on the earlier events, served through
`RecommendationService` as of the cutoff (`recommender.model_selection`), and the chosen one is then
refitted on every event. Reproducible: the same data and seed give the same bundle arrays
(single-threaded LightFM, seeded k-means and encoder).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from content_catalog.schema import Item, User
from content_catalog.taxonomy import AUDIENCES
from features.event_columns import EventColumns, columns_from_chunks
from features.interactions import InteractionMatrixBuilder, Interactions, interactions_from_columns
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder
from features.user_profiles import Profile, UserProfiles
from recommender.model_selection import DEFAULT_MODEL, Selection, ValidationSet, auto_candidates, select
from recommender.rankers import EASE_MAX_ITEMS, Ranker, RankerError, TrainingData, make_ranker, ranker_names
from recommender.rankers.als import ALSRanker, warm_start
from recommender.rankers.blend import BlendRanker
from recommender.rankers.cold_start import ColdStart, fit_cold_start
from recommender.registry import Bundle, BundleError, load_bundle, register, save_bundle
from recommender.trending import TrendingHistory


class TrainableEncoder(Protocol):
    def fit(self, texts: Sequence[str]) -> Any: ...
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class TrainParams:
    """Knobs of the pipeline (all recorded in the manifest). The LightFM knobs default to the setting
    measured in docs/evaluation.md."""

    no_components: int = 64
    epochs: int = 30
    learning_rate: float = 0.03
    item_alpha: float = 1e-5
    user_alpha: float = 1e-5
    ease_regularization: float = 400.0
    als_iterations: int = 15
    als_warm_iterations: int = 5
    half_life_days: float | None = 30.0
    trending_half_life_days: float = 3.0
    n_text_clusters: int = 16
    holdout_fraction: float = 0.1
    max_validation_users: int = 200
    min_validation_events: int = 50
    eval_k: int = 10

    def ranker_params(self, name: str) -> dict[str, Any]:
        lightfm = {
            "no_components": self.no_components,
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "item_alpha": self.item_alpha,
            "user_alpha": self.user_alpha,
        }
        als = {"factors": self.no_components, "iterations": self.als_iterations}
        return {"lightfm": lightfm, "ease": {"regularization": self.ease_regularization}, "als": als}.get(name, {})


def index_vectors(index: Any) -> Callable[[list[str]], np.ndarray | None]:
    """`vectors(ids)` for `train_bundle` from a `VectorIndex` (the catalog index `kepu catalog embed` saved
    with the same encoder): the stored rows, or None when any id is missing (then training encodes)."""

    def vectors(ids: list[str]) -> np.ndarray | None:
        if not ids or any(item not in index for item in ids):
            return None
        return np.stack([index.vector(item) for item in ids]).astype(np.float32)

    return vectors


def _audience_popularity(inter: Interactions, codes: np.ndarray, profiles: Sequence[Profile]) -> np.ndarray:
    """(n_audiences, n_items): each audience's decayed interaction mass, smoothed with the global mass.
    `codes[row]` indexes `profiles` (a user without audiences counts as "public")."""
    matrix = inter.matrix
    overall = np.asarray(matrix.sum(axis=0)).ravel()
    overall = overall / overall.max() if overall.max() > 0 else overall
    out = np.zeros((len(AUDIENCES), matrix.shape[1]), dtype=np.float32)
    position = {audience: a for a, audience in enumerate(AUDIENCES)}
    pairs = {
        (p, position[a]) for p, profile in enumerate(profiles) for a in (profile[0] or ("public",)) if a in position
    }
    prof, aud = (np.array(col, dtype=np.int64) for col in zip(*pairs, strict=True)) if pairs else ([], [])
    by_profile = sp.csr_matrix((np.ones(len(prof)), (prof, aud)), shape=(len(profiles), len(AUDIENCES)))
    rows = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(matrix.shape[0], len(profiles)))
    members = sp.csr_matrix((rows @ by_profile).T)
    members.data[:] = 1.0  # an audience listed twice counts once
    masses = np.asarray((members @ matrix).todense(), dtype=np.float64)
    for a in range(len(AUDIENCES)):
        mass = masses[a]
        mass = mass / mass.max() if mass.max() > 0 else mass
        out[a] = 0.75 * mass + 0.25 * overall
    return out


@dataclass(frozen=True)
class WarmStart:
    """What the validation fitted (on the earlier events) and its matrix rows' keys: a final fit may
    continue from it rather than start over (`TrainingSet.fit`)."""

    fitted: Mapping[str, Ranker]
    users: list[str]


@dataclass
class TrainingSet:
    """Catalog-side inputs shared by every fit: items in id order, their encoder vectors and features."""

    items: list[Item]
    vectors: np.ndarray
    item_builder: ItemFeatureBuilder
    item_x: sp.csr_matrix
    user_builder: UserFeatureBuilder
    known: UserProfiles
    params: TrainParams
    seed: int
    encoder: TrainableEncoder
    fitted: dict[str, Ranker] = field(default_factory=dict)
    _data: dict[int, tuple[Interactions, TrainingData]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        users: Sequence[User] | UserProfiles,
        encoder: TrainableEncoder,
        params: TrainParams,
        seed: int,
        vectors: Callable[[list[str]], np.ndarray | None] | None = None,
    ) -> TrainingSet:
        """`vectors(ids)`: the encoder's stored vectors of these items (e.g. the catalog index `kepu catalog
        embed` just saved), or None when it lacks any; the catalog is re-encoded only then."""
        items = sorted(items, key=lambda it: it.id)
        stored = vectors([it.id for it in items]) if vectors is not None else None
        if stored is None:
            stored = encoder.encode([it.text for it in items])
        vectors = np.asarray(stored, dtype=np.float32)
        item_builder = ItemFeatureBuilder(
            n_text_clusters=params.n_text_clusters, identity=False, normalize=False, random_state=seed
        ).fit(items, vectors)
        item_x = item_builder.transform(items, vectors)
        user_builder = UserFeatureBuilder(identity=False, normalize=False).fit([])
        known = users if isinstance(users, UserProfiles) else UserProfiles.from_users(users)
        return cls(items, vectors, item_builder, item_x, user_builder, known, params, seed, encoder)

    @property
    def item_ids(self) -> list[str]:
        return [it.id for it in self.items]

    def interactions(self, events: EventColumns, now: datetime | None) -> Interactions:
        builder = InteractionMatrixBuilder(half_life_days=self.params.half_life_days, now=now)
        return interactions_from_columns(events, self.item_ids, builder)

    def fit(self, name: str, inter: Interactions, warm: WarmStart | None = None) -> Ranker:
        """Fit ranker `name`; a blend reuses parts already fitted on the same interactions. `warm`: the
        validation fit, which an ALS final fit continues from (`als_warm_iterations`) instead of restarting."""
        if name in self.fitted:
            return self.fitted[name]
        data = self.training_data(inter)
        previous = warm.fitted.get(name) if warm is not None else None
        ranker: Ranker
        if isinstance(previous, ALSRanker) and warm is not None:
            params = {**self.params.ranker_params(name), "iterations": self.params.als_warm_iterations}
            start = warm_start(previous, warm.users, inter.user_map.to_list(), self.seed)
            als = ALSRanker(seed=self.seed, **params).fit(data, start=start)
            als.params["warm_start"] = f"validation fit ({self.params.als_iterations} iterations)"
            ranker = als
        elif name == "ease+lightfm":
            parts = [self.fit(part, inter) for part in ("ease", "lightfm")]
            ranker = BlendRanker.from_parts(parts, data, seed=self.seed)
        else:
            ranker = make_ranker(name, seed=self.seed, **self.params.ranker_params(name)).fit(data)
        self.fitted[name] = ranker
        return ranker

    def training_data(self, inter: Interactions) -> TrainingData:
        """The rankers' input for these interactions (user features built once per interactions)."""
        cached = self._data.get(id(inter))
        if cached is None or cached[0] is not inter:
            features = self.known.features(inter.user_map.to_list(), self.user_builder)
            cached = self._data[id(inter)] = (inter, TrainingData(inter.matrix, features, self.item_x))
        return cached[1]

    def cold_start(self, ranker: Ranker, inter: Interactions) -> ColdStart | None:
        """The cold-start companions served beside `ranker` (`recommender.rankers.cold_start`)."""
        data = self.training_data(inter)
        return fit_cold_start(ranker, data, self.seed, fit=lambda name: self.fit(name, inter))

    def bundle(
        self, ranker: Ranker, inter: Interactions, events: EventColumns, now: datetime | None, version: str
    ) -> tuple[Bundle, dict[str, np.ndarray]]:
        """An in-memory bundle (no files) and its priors."""
        codes, profiles = self.known.profile_codes(inter.user_map.to_list())
        trending_builder = InteractionMatrixBuilder(half_life_days=self.params.trending_half_life_days, now=now)
        trend = interactions_from_columns(events, self.item_ids, trending_builder).matrix
        trending = np.asarray(trend.sum(axis=0), dtype=np.float32).ravel()
        history = TrendingHistory.build(events, inter.item_map, self.params.trending_half_life_days)
        priors = {
            "popularity": _audience_popularity(inter, codes, profiles),
            "trending": trending / trending.max() if trending.max() > 0 else trending,
            "user_counts": np.diff(inter.matrix.indptr).astype(np.int32),
            **history.arrays(),
        }
        bundle = Bundle(
            version=version,
            path=None,
            manifest={"version": version, "trending_history": history.spec()},
            item_map=inter.item_map,
            user_map=inter.user_map,
            ranker=ranker,
            arrays=priors,
            user_features=self.user_builder,
            item_features=self.item_builder,
            audiences=list(AUDIENCES),
            cold=self.cold_start(ranker, inter),
        )
        return bundle, priors


def _as_columns(events: pd.DataFrame | EventColumns) -> EventColumns:
    """A frame is put in time order (ties by event id) first, as the store reads events."""
    if isinstance(events, EventColumns):
        return events
    order = [c for c in ("timestamp", "event_id") if c in events.columns]
    return EventColumns.from_frame(events.sort_values(order, kind="stable") if order else events)


def _check_model(model: str, n_items: int) -> None:
    if model != "auto" and model not in ranker_names():
        raise RankerError(f"model: unknown model {model!r}; use auto or one of {', '.join(ranker_names())}")
    if model in ("ease", "item-knn", "ease+lightfm") and n_items > EASE_MAX_ITEMS:
        raise RankerError(
            f"model: {model} is dense items×items; {n_items} items exceed the limit of {EASE_MAX_ITEMS} "
            "(use --model lightfm or auto)"
        )


def _choose(
    tset: TrainingSet,
    model: str,
    events: EventColumns,
    validation_events: EventColumns | None,
    now: datetime | None,
    log: Callable[[str], None],
) -> tuple[Selection | None, Interactions | None, WarmStart | None]:
    """Run the validation (time split, or the given events); None when there is too little to validate.

    Returns the selection, for explicit validation events the interactions the candidates were fitted on
    (they are then the final fits), and for a time split what the final fit may warm-start from."""
    params = tset.params
    if validation_events is not None:
        before, after, cutoff = events, validation_events, now or events.latest()
        info = {"split": "given", "train_events": len(before), "validation_events": len(after)}
    else:
        if params.holdout_fraction <= 0 or len(events) < params.min_validation_events:
            return None, None, None
        cutoff = events.cutoff(params.holdout_fraction)
        before, after = events.before(cutoff), events.since(cutoff)
        info = {"split": f"time, last {params.holdout_fraction:.0%} of events", "cutoff": cutoff.isoformat()}
        info |= {"train_events": len(before), "validation_events": len(after)}
    if not before.n:
        return None, None, None
    validation = ValidationSet.build(
        tset.items,
        tset.known,
        before,
        after,
        cutoff,
        tset.encoder,
        tset.vectors,
        params.max_validation_users,
        tset.seed,
    )
    if not validation.truth:
        return None, None, None
    info["validation_users"] = len(validation.truth)
    inter = tset.interactions(before, cutoff)
    n_pairs = int(inter.matrix.nnz)
    candidates, messages = auto_candidates(len(tset.items), n_pairs) if model == "auto" else ([model], [])
    for message in messages:
        log(message)
    part = TrainingSet(**{**tset.__dict__, "fitted": {}, "_data": {}})

    def bundle_for(name: str) -> Bundle:
        log(f"validating {name} …")
        return part.bundle(part.fit(name, inter), inter, before, cutoff, f"validation-{name}")[0]

    selection = select(candidates, bundle_for, validation, params.eval_k, messages, info)
    if validation_events is not None:
        tset.fitted = part.fitted
        return selection, inter, None
    return selection, None, WarmStart(part.fitted, inter.user_map.to_list())


def train_bundle_from_data(
    items: Sequence[Item],
    events: pd.DataFrame | EventColumns,
    users: Sequence[User] | UserProfiles,
    encoder: TrainableEncoder,
    out_dir: Path | str,
    seed: int = 42,
    *,
    params: TrainParams | None = None,
    version: str | None = None,
    encoder_spec: str = "custom",
    now: datetime | None = None,
    data_as_of: datetime | None = None,
    model: str = "auto",
    validation_events: pd.DataFrame | EventColumns | None = None,
    log: Callable[[str], None] = lambda _: None,
    vectors: Callable[[list[str]], np.ndarray | None] | None = None,
) -> Bundle:
    """The pipeline on in-memory data (the store-backed `train_bundle` and the protocols call this).

    `encoder` must already be fitted and give L2-normalised rows. `model`: "auto" or a ranker name.
    `validation_events`: validate on these instead of the last `holdout_fraction` of `events`.
    `vectors(ids)`: stored encoder vectors of the catalog (see `TrainingSet.build`).
    `data_as_of`: when the events were read (kept in the manifest: a user erased after it is ignored
    by the live service until the next training).
    """
    started = time.perf_counter()
    params = params or TrainParams()
    _check_version_free(out_dir, version)
    if not items:
        raise ValueError("train: the catalog is empty")
    if not len(events):
        raise ValueError("train: no events to learn from")
    _check_model(model, len(items))
    events = _as_columns(events)
    if validation_events is not None:
        validation_events = _as_columns(validation_events)
    log(f"read {events.n:,} events ({events.nbytes() / 2**20:.0f} MiB of columns), {len(events.keys):,} users")
    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal mark
        timings[phase] = round(time.perf_counter() - mark, 2)
        mark = time.perf_counter()

    tset = TrainingSet.build(items, users, encoder, params, seed, vectors)
    lap("catalog_features")
    selection, fitted_on, warm = _choose(tset, model, events, validation_events, now, log)
    lap("validation")
    chosen = selection.model if selection else (DEFAULT_MODEL if model == "auto" else model)
    if selection is None:
        log(f"too little data to validate: serving {chosen} with the fallback blend")
    inter = fitted_on or tset.interactions(events, now)
    lap("final_interactions")
    log(f"fitting {chosen} on {inter.matrix.nnz:,} interactions …")
    ranker = tset.fit(chosen, inter, warm)
    lap("final_fit")
    final_fit = dict(ranker.state()[1]) if ranker.name == "als" else {}
    if "warm_start" in final_fit:
        log(f"{chosen}: continued the {final_fit['warm_start']} for {final_fit['iterations']} iterations")
    version = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-s{seed}"
    served, priors = tset.bundle(ranker, inter, events, now, version)
    n_users, n_items = inter.matrix.shape
    counts = {
        "items": n_items,
        "users": n_users,
        "events": events.n,
        "events_used": inter.n_events_used,
        "interactions": int(inter.matrix.nnz),
        "negative_pairs": int(inter.negatives.nnz),
        "registered_users": len(tset.known),
    }
    metrics = dict(selection.candidates[chosen]) if selection else {}
    folder = save_bundle(
        Path(out_dir),
        version,
        ranker=ranker,
        priors=priors,
        item_map=inter.item_map,
        user_map=inter.user_map,
        user_features=tset.user_builder,
        item_features=tset.item_builder,
        audiences=list(AUDIENCES),
        blend=selection.blend if selection else None,
        cold=served.cold,
        manifest_extra={
            "seed": seed,
            "encoder": encoder_spec,
            "params": asdict(params),
            "data_counts": counts,
            "metrics": metrics,
            "data_as_of": (data_as_of or datetime.now(UTC)).isoformat(),
            "selection": selection.manifest() if selection else {"model": chosen, "reason": "no validation data"},
            "requested_model": model,
            "train_seconds": round(time.perf_counter() - started, 2),
            "timings": timings,
            "trending_history": served.manifest["trending_history"],
            "final_fit": final_fit or {"model": chosen, "warm_start": None},
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
    model: str = "auto",
    validation_events: pd.DataFrame | None = None,
    log: Callable[[str], None] = lambda _: None,
    vectors: Callable[[list[str]], np.ndarray | None] | None = None,
) -> Bundle:
    """Train from everything in the store and register the bundle (`store.add_model_version`).

    `encoder_spec`: a spec for `make_encoder` (fitted here on the catalog texts, id order, with
    `encoder_options` e.g. `{"dim": 256}`) or an already fitted encoder. The new version is registered
    but not activated (use `registry.activate`). `vectors(ids)`: the encoder's stored item vectors (the
    catalog index), so the catalog is not re-encoded.

    Events are streamed from the store into compact columns (`features.event_columns`), never into a
    DataFrame; users are read as raw profile rows and only those with events are kept, as profile codes
    (`features.user_profiles`), not `User` objects.
    """
    _check_version_free(out_dir, version)
    data_as_of = datetime.now(UTC)  # before reading: an erasure from here on must not trust this bundle
    items = list(store.iter_items())
    events = columns_from_chunks(store.iter_event_chunks())
    keys = set(events.keys)
    users = UserProfiles.from_rows(row for row in store.iter_user_profiles() if row[0] in keys)
    del keys
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
        model=model,
        validation_events=validation_events,
        log=log,
        vectors=vectors,
    )
    if register_version:
        register(store, bundle)
    return bundle
