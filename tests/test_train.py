"""Training pipeline and model registry: manifest, checksums, reproducibility, store registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from content_catalog.store import Store
from features.simulator import simulate
from recommender.registry import BundleError, activate, load_active, load_bundle
from recommender.train import TrainParams, train_bundle
from tests.test_service_support import demo_encoder, demo_items

PARAMS = TrainParams(no_components=8, epochs=5, n_text_clusters=6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("train")
    store = Store(f"sqlite:///{root / 'kepu.db'}")
    items = list(demo_items())
    store.upsert_items(items)
    users, events = simulate(items, n_users_per_audience=4, days=14, seed=5)
    for user in users:
        store.upsert_user(user)
    store.add_events(events)
    encoder = demo_encoder()
    bundle = train_bundle(store, encoder, root / "models", seed=11, params=PARAMS, version="v1")
    yield store, encoder, bundle, root, items, events
    store.close()


def test_manifest_has_counts_params_metrics_and_checksums(trained: tuple) -> None:
    store, _, bundle, root, items, events = trained
    manifest = json.loads((root / "models" / "v1" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 11 and manifest["params"]["no_components"] == 8
    assert manifest["data_counts"]["items"] == len(items)
    assert manifest["data_counts"]["events"] == len(events)
    assert manifest["format_version"] == 2
    chosen = manifest["selection"]["model"]
    assert manifest["model"]["name"] == chosen and chosen in {"ease", "lightfm", "ease+lightfm"}
    assert set(manifest["selection"]["candidates"]) == {"ease", "lightfm", "ease+lightfm"}
    assert manifest["metrics"]["served_ndcg@10"] == manifest["selection"]["candidates"][chosen]["served_ndcg@10"]
    assert manifest["selection"]["validation"]["validation_users"] > 0
    assert set(manifest["files"]) >= {"online_blend.json", "item_ids.json", "popularity.npy"}
    assert bundle.blend is not None and bundle.item_matrix.shape[0] == len(items)
    registered = {v.version: v for v in store.list_model_versions()}
    assert registered["v1"].checksum == bundle.checksum


def test_same_seed_same_scores(trained: tuple) -> None:
    store, encoder, bundle, root, *_ = trained
    again = train_bundle(
        store, encoder, root / "again", seed=11, params=PARAMS, version="v1-again", register_version=False
    )
    np.testing.assert_array_equal(bundle.item_matrix, again.item_matrix)
    assert bundle.blend == again.blend
    np.testing.assert_array_equal(np.asarray(bundle.arrays["popularity"]), np.asarray(again.arrays["popularity"]))


def test_versions_are_immutable(trained: tuple) -> None:
    store, encoder, _, root, *_ = trained
    with pytest.raises(BundleError, match="already exists"):
        train_bundle(store, encoder, root / "models", seed=11, params=PARAMS, version="v1", register_version=False)


def test_tampered_bundle_is_rejected(trained: tuple, tmp_path: Path) -> None:
    *_, root, _, _ = trained
    import shutil

    copy, other = tmp_path / "copy", tmp_path / "other"
    shutil.copytree(root / "models" / "v1", copy)
    shutil.copytree(root / "models" / "v1", other)
    assert load_bundle(copy).version == "v1"
    with (copy / "trending.npy").open("r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(BundleError, match=r"trending\.npy: sha256 mismatch"):
        load_bundle(copy)
    (other / "user_ids.json").unlink()
    with pytest.raises(BundleError, match=r"user_ids\.json: missing bundle file"):
        load_bundle(other)
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_activate_through_store(trained: tuple) -> None:
    store, _, bundle, *_ = trained
    activate(store, "v1")
    active = load_active(store)
    assert active is not None and active.checksum == bundle.checksum
    with pytest.raises(BundleError, match="not registered"):
        activate(store, "nope")


def test_encoder_spec_is_built_and_fitted_from_the_catalog(trained: tuple) -> None:
    store, _, _, root, items, _ = trained
    bundle = train_bundle(
        store,
        "tfidf-svd",
        root / "spec",
        seed=2,
        params=PARAMS,
        version="from-spec",
        register_version=False,
        encoder_options={"dim": 16, "smoothing_neighbours": 0},
    )
    assert bundle.manifest["encoder"] == "tfidf-svd"
    assert bundle.item_matrix.shape[0] == len(items)
    with pytest.raises(ValueError, match="unknown encoder spec"):
        train_bundle(store, "word2vec", root / "bad", seed=2, params=PARAMS, register_version=False)


def test_failed_save_leaves_no_partial_version(trained: tuple, tmp_path: Path) -> None:
    from recommender.registry import PRIORS, save_bundle

    _, _, bundle, *_ = trained
    arrays = {name: np.asarray(bundle.arrays[name]) for name in PRIORS}
    arrays["trending"] = np.array([object()], dtype=object)  # np.save refuses pickled objects
    with pytest.raises(ValueError):
        save_bundle(
            tmp_path,
            "broken",
            ranker=bundle.ranker,
            priors=arrays,
            item_map=bundle.item_map,
            user_map=bundle.user_map,
            user_features=bundle.user_features,
            item_features=bundle.item_features,
            audiences=bundle.audiences,
            manifest_extra={},
        )
    assert list(tmp_path.iterdir()) == []


def test_trending_as_of_an_earlier_request_counts_only_events_until_then(trained: tuple) -> None:
    """A request dated inside the training span sees trending from the hours that ended by then (decayed
    from `now`), through the saved bundle and the service; at or after the last event, the exact prior."""
    from content_catalog.vector_index import VectorIndex
    from features.interactions import EVENT_WEIGHTS
    from recommender.candidates import aligned_prior
    from recommender.service import RecommendationRequest, RecommendationService
    from tests.test_service_support import ENCODER_DIM

    store, encoder, _, root, _, events = trained
    loaded = load_bundle(root / "models" / "v1")
    assert loaded.manifest["trending_history"]["half_life_days"] == PARAMS.trending_half_life_days
    stamps = sorted(e.timestamp for e in events)
    np.testing.assert_array_equal(loaded.trending_at(stamps[-1].timestamp()), loaded.arrays["trending"])
    now = stamps[len(stamps) // 2].timestamp()
    expected = np.zeros(len(loaded.item_map))
    for e in events:
        end = (e.timestamp.timestamp() // 3600 + 1) * 3600
        weight = EVENT_WEIGHTS[str(e.type.value)]
        if end <= now and weight > 0 and loaded.item_map.get(e.item_id) >= 0:
            expected[loaded.item_map.get(e.item_id)] += weight * 0.5 ** ((now - end) / 86_400 / 3.0)
    past = loaded.trending_at(now)
    np.testing.assert_allclose(past, expected / expected.max(), rtol=1e-5, atol=1e-7)
    assert not np.allclose(past, loaded.arrays["trending"])  # the end-of-training prior would see the future
    service = RecommendationService(store, loaded, encoder, VectorIndex(ENCODER_DIM))
    signals = service.source_scores(RecommendationRequest(audience="public", now=stamps[len(stamps) // 2])).signals
    view = service.source_scores(RecommendationRequest(audience="public")).view
    np.testing.assert_array_equal(signals["trending"], aligned_prior(view, loaded.item_map, past))
