"""Every servable ranker: save → load gives identical scores (known users, profiles, items added after
training); format-1 bundles still load; unknown formats and oversized EASE are refused with a message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from content_catalog.schema import User
from features.idmap import IdMap
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder
from recommender.model_selection import LIGHTFM_AUTO_INTERACTIONS, LIGHTFM_MAX_INTERACTIONS, auto_candidates
from recommender.online_blend import OnlineBlend
from recommender.rankers import EASE_MAX_ITEMS, RankerError, TrainingData, make_ranker, ranker_names, score_users
from recommender.rankers.als import ALSRanker, warm_start
from recommender.rankers.cold_start import ColdStart, fit_cold_start
from recommender.registry import PRIORS, Bundle, BundleError, load_bundle, save_bundle, sha256_file
from recommender.rerank import BlendWeights
from tests.test_service_support import demo_encoder, demo_items

N_USERS = 40
FAST = {"lightfm": {"no_components": 8, "epochs": 3}, "als": {"factors": 8, "iterations": 3}}


@pytest.fixture(scope="module")
def world() -> dict:
    items = sorted(demo_items(), key=lambda it: it.id)[:120]
    vectors = demo_encoder().encode([it.text for it in items])
    item_builder = ItemFeatureBuilder(n_text_clusters=4, identity=False, normalize=False).fit(items, vectors)
    user_builder = UserFeatureBuilder(identity=False, normalize=False).fit([])
    audiences = ["youth", "seniors", "farmers", "workers"]
    users = [User(id=f"u{i}", audiences=[audiences[i % 4]]) for i in range(N_USERS)]
    rng = np.random.default_rng(0)
    matrix = sp.random(N_USERS, len(items), density=0.08, random_state=rng, format="csr", dtype=np.float32)
    matrix.data[:] = 1.0
    data = TrainingData(matrix, user_builder.transform(users), item_builder.transform(items, vectors))
    return {
        "items": items,
        "vectors": vectors,
        "item_builder": item_builder,
        "user_builder": user_builder,
        "data": data,
        "users": users,
    }


def _save(
    world: dict, ranker: object, folder: Path, blend: OnlineBlend | None = None, cold: ColdStart | None = None
) -> Path:
    data = world["data"]
    priors = {
        "popularity": np.ones((6, data.n_items), np.float32),
        "trending": np.ones(data.n_items, np.float32),
        "user_counts": np.diff(data.interactions.indptr).astype(np.int32),
    }
    return save_bundle(
        folder,
        "v",
        ranker=ranker,  # type: ignore[arg-type]
        priors=priors,
        item_map=IdMap([it.id for it in world["items"]]),
        user_map=IdMap([u.id for u in world["users"]]),
        user_features=world["user_builder"],
        item_features=world["item_builder"],
        audiences=["youth", "farmers", "workers", "seniors", "officials", "public"],
        manifest_extra={},
        blend=blend,
        cold=cold,
    )


PROFILE_ONLY = {"cold-user"}
"""Rankers that score every user from their profile (no per-user vector)."""


@pytest.mark.parametrize(
    "name", ["lightfm", "ease", "item-knn", "ease+lightfm", "content-bilinear", "cold-user", "als"]
)
def test_every_ranker_round_trips_with_identical_scores(world: dict, name: str, tmp_path: Path) -> None:
    assert name in ranker_names()
    data = world["data"]
    if name == "ease+lightfm":
        ranker = make_ranker(name, seed=1)
        ranker.rankers = [make_ranker(p, seed=1, **FAST.get(p, {})).fit(data) for p in ("ease", "lightfm")]
        ranker._fit_scales(data)  # type: ignore[attr-defined]
    else:
        ranker = make_ranker(name, seed=1, **FAST.get(name, {})).fit(data)
    blend = OnlineBlend((0, 5), (BlendWeights(1, 0, 0, 0), BlendWeights(0.5, 0.2, 0.3, 0.0)), {}, 0.8)
    loaded = load_bundle(_save(world, ranker, tmp_path, blend))
    assert loaded.model_name == name and loaded.blend == blend
    # saved without an hourly trending history (as bundles before it): every request gets the prior
    assert loaded.trending_history is None and loaded.trending_key(0.0) is None
    np.testing.assert_array_equal(loaded.trending_at(0.0), loaded.arrays["trending"])
    rows = np.arange(N_USERS)
    before = score_users(ranker, rows, data.interactions)
    after = score_users(loaded.ranker, rows, data.interactions)
    np.testing.assert_array_equal(before, after)
    assert np.isfinite(before).any() != (name in PROFILE_ONLY)
    new_items = data.item_features[:5]
    np.testing.assert_array_equal(ranker.cold_item_matrix(new_items), loaded.ranker.cold_item_matrix(new_items))
    profile = world["user_builder"].profile_row(["seniors"], "60_plus")
    expected, got = ranker.profile_vector(profile), loaded.ranker.profile_vector(profile)
    assert (expected is None) == (got is None)
    if expected is not None:
        np.testing.assert_array_equal(expected, got)
    assert expected is not None or name not in PROFILE_ONLY | {"content-bilinear", "lightfm"}
    # the service's entry point: a known user's vector from their key and live history
    history = [(world["items"][c].id, "view") for c in data.interactions[3].indices]
    vector = loaded.user_vector("u3", history)
    if name in PROFILE_ONLY:
        assert vector is None
    else:
        np.testing.assert_allclose(loaded.item_matrix @ vector, before[3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("main", ["ease", "lightfm", "content-bilinear", "cold-user", "als"])
def test_cold_start_companions_round_trip_and_leave_known_scores_alone(world: dict, main: str, tmp_path: Path) -> None:
    """Whatever the main ranker: profile-only visitors get the cold-user ranker, items added after
    training the content-bilinear one; a known user's scores of trained items stay the main ranker's."""
    data = world["data"]
    ranker = make_ranker(main, seed=1, **FAST.get(main, {})).fit(data)
    cold = fit_cold_start(ranker, data, seed=1)
    assert cold is not None
    assert (cold.profiles is None) == (main == "cold-user") and (cold.items is None) == (main == "content-bilinear")
    folder = _save(world, ranker, tmp_path, cold=cold)
    loaded = load_bundle(folder)
    assert loaded.cold is not None and loaded.model_name == main
    fresh = Bundle(**{**loaded.__dict__, "_item_matrix": None, "cold": cold})  # the in-memory companions
    np.testing.assert_array_equal(loaded.item_matrix, fresh.item_matrix)
    new_items = data.item_features[:7]
    np.testing.assert_array_equal(loaded.cold_item_matrix(new_items), fresh.cold_item_matrix(new_items))
    profile = world["user_builder"].profile_row(["seniors"], "60_plus")
    np.testing.assert_array_equal(loaded.cold_user_vector(profile), fresh.cold_user_vector(profile))
    history = [(world["items"][c].id, "view") for c in data.interactions[3].indices]
    vector = loaded.user_vector("u3", history)
    if main == "cold-user":
        assert vector is None
        return
    n_trained = len(world["items"])
    np.testing.assert_allclose(
        loaded.item_matrix @ vector, score_users(ranker, np.array([3]), data.interactions[3])[0], rtol=1e-5, atol=1e-5
    )
    new_scores = loaded.cold_item_matrix(new_items) @ vector
    if main != "content-bilinear":  # new items: the main ranker's own cold rows + bilinear on its scale
        own = ranker.cold_item_matrix(new_items) @ ranker.user_vector(3, data.interactions[3].toarray()[0])
        bilinear = cold.items.cold_item_matrix(new_items) @ cold.items.user_vector(3, data.interactions[3].toarray()[0])
        np.testing.assert_allclose(new_scores, own + cold.scale * bilinear + cold.offset, rtol=1e-4, atol=1e-5)
        assert np.ptp(new_scores) > 0
    assert loaded.item_matrix.shape[0] == n_trained


def test_format_1_bundles_still_load_as_lightfm(world: dict, tmp_path: Path) -> None:
    ranker = make_ranker("lightfm", seed=2, **FAST["lightfm"]).fit(world["data"])
    folder = _save(world, ranker, tmp_path / "v2")
    old = tmp_path / "v1"
    old.mkdir()
    for name in [*PRIORS, "item_ids", "user_ids", "user_features", "item_features", "audiences"]:
        for suffix in (".npy", ".json"):
            if (folder / f"{name}{suffix}").exists():
                shutil.copy(folder / f"{name}{suffix}", old / f"{name}{suffix}")
    for array in ranker.state()[0]:
        shutil.copy(folder / f"ranker.{array}.npy", old / f"{array}.npy")
    manifest = {
        "format_version": 1,
        "version": "old",
        "model": "lightfm-warp",
        "params": {"no_components": 8},
        "files": {p.name: sha256_file(p) for p in sorted(old.iterdir())},
    }
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    bundle = load_bundle(old)
    assert bundle.model_name == "lightfm-warp" and bundle.blend is None
    np.testing.assert_array_equal(bundle.item_matrix, ranker.item_matrix())


def test_unknown_format_and_ranker_are_refused_clearly(world: dict, tmp_path: Path) -> None:
    folder = _save(world, make_ranker("ease").fit(world["data"]), tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 3}), encoding="utf-8")
    with pytest.raises(BundleError, match=r"bundle format 3 is not supported.*retrain"):
        load_bundle(folder)
    manifest["model"]["name"] = "word2rec"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=r"cannot restore the model.*word2rec"):
        load_bundle(folder)
    with pytest.raises(RankerError, match="unknown ranker 'nope'"):
        make_ranker("nope")


def test_dense_item_item_models_are_skipped_above_the_item_limit() -> None:
    assert auto_candidates(EASE_MAX_ITEMS)[0] == ["ease", "lightfm", "ease+lightfm"]
    kept, messages = auto_candidates(100, LIGHTFM_AUTO_INTERACTIONS + 1)  # LightFM costs more than it serves
    assert kept == ["ease"] and "skipped lightfm" in messages[0]
    kept, messages = auto_candidates(EASE_MAX_ITEMS + 1)
    assert kept == ["lightfm", "als"] and "skipped ease" in messages[0] and str(EASE_MAX_ITEMS) in messages[0]
    kept, messages = auto_candidates(EASE_MAX_ITEMS + 1, LIGHTFM_MAX_INTERACTIONS + 1)  # 10M events: ALS only
    assert kept == ["als"] and "skipped lightfm" in messages[1] and str(LIGHTFM_MAX_INTERACTIONS) in messages[1]


def test_als_folds_in_unseen_users_and_warm_starts_from_an_earlier_fit(world: dict) -> None:
    """A user unseen in training is scored from their live history (the ALS user step solved exactly);
    a warm-started fit keeps the known users' rows as its starting point."""
    data = world["data"]
    ranker = make_ranker("als", seed=1, **FAST["als"]).fit(data)
    history = data.interactions[5].toarray().ravel()
    vector = ranker.user_vector(-1, history)
    items = ranker.item_matrix().astype(np.float64)
    confidence = 1.0 + ranker.params["alpha"] * history
    lhs = items.T @ (items * confidence[:, None]) + ranker.params["regularization"] * np.eye(items.shape[1])
    np.testing.assert_allclose(lhs @ vector, items.T @ np.where(history > 0, confidence, 0.0), rtol=1e-3, atol=1e-4)
    assert ranker.user_vector(-1, np.zeros_like(history)) is None
    keys = [u.id for u in world["users"]]
    start, item_start = warm_start(ranker, keys[:30], ["new", *keys[:30]], seed=1)  # type: ignore[arg-type]
    np.testing.assert_array_equal(start[1:], ranker.user_factors_[:30])  # type: ignore[attr-defined]
    np.testing.assert_array_equal(item_start, ranker.item_matrix())
    assert np.abs(start[0]).max() <= 0.01
    rows = np.r_[0, np.arange(30)]
    warmed = ALSRanker(seed=1, factors=8, iterations=1).fit(
        TrainingData(data.interactions[rows], data.user_features[rows], data.item_features), start=(start, item_start)
    )
    assert warmed.user_factors_.shape == (31, 8) and np.isfinite(warmed.item_matrix()).all()


def test_explicit_ease_on_a_too_large_catalog_is_refused() -> None:
    big = sp.csr_matrix((2, EASE_MAX_ITEMS + 1), dtype=np.float32)
    data = TrainingData(big, sp.csr_matrix((2, 1)), sp.csr_matrix((EASE_MAX_ITEMS + 1, 1)))
    with pytest.raises(RankerError, match=f"exceed the limit of {EASE_MAX_ITEMS}"):
        make_ranker("ease").fit(data)
