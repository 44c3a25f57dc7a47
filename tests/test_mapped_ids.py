"""User ids as memory-mapped sorted arrays (`recommender.mapped_ids`): lookups agree with `IdMap`, bundles
write and verify them, map every array read-only, and bundles written before them still load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from content_catalog.schema import Item, User
from features.idmap import IdMap
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder
from recommender.mapped_ids import SortedIds, save_sorted_ids
from recommender.rankers import TrainingData, make_ranker
from recommender.registry import BundleError, load_bundle, save_bundle, sha256_file

IDS = ["u10", "u2", "用户-甲", "a", "u1", "zz-very-long-user-id-0001", "u3"]


def test_sorted_ids_answer_like_an_idmap(tmp_path: Path) -> None:
    save_sorted_ids(tmp_path, "ids", IDS)
    mapped, plain = SortedIds.load(tmp_path, "ids"), IdMap(IDS)
    assert isinstance(mapped._keys, np.memmap) and len(mapped) == len(plain) == len(IDS)
    for key in [*IDS, "u", "u11", "zz-very-long-user-id-0001-and-more", "", "用户"]:
        assert mapped.get(key) == plain.get(key), key
        assert (key in mapped) == (key in plain)
    assert mapped.to_list() == IDS
    assert mapped.convert_to_external([2, 0]) == ["用户-甲", "u10"]
    assert mapped.convert_to_internal(["u3", "a"]).tolist() == [6, 3]
    with pytest.raises(KeyError, match="nobody"):
        mapped.convert_to_internal(["nobody"])


def _bundle(folder: Path) -> Path:
    items = [
        Item(
            id=f"i{n}",
            title=f"科普 {n}",
            topics=["health"],
            format="article",
            published_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for n in range(6)
    ]
    vectors = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    item_builder = ItemFeatureBuilder(n_text_clusters=2, identity=False, normalize=False).fit(items, vectors)
    user_builder = UserFeatureBuilder(identity=False, normalize=False).fit([])
    users = [User(id=f"x{n}") for n in range(len(IDS))]  # features only; the map holds IDS
    matrix = sp.csr_matrix(np.eye(len(IDS), 6, dtype=np.float32))
    data = TrainingData(matrix, user_builder.transform(users), item_builder.transform(items, vectors))
    priors = {
        "popularity": np.ones((6, 6), np.float32),
        "trending": np.ones(6, np.float32),
        "user_counts": np.ones(len(IDS), np.int32),
    }
    return save_bundle(
        folder,
        "v",
        ranker=make_ranker("item-knn", seed=1).fit(data),
        priors=priors,
        item_map=IdMap([it.id for it in items]),
        user_map=IdMap(IDS),
        user_features=user_builder,
        item_features=item_builder,
        audiences=["youth", "farmers", "workers", "seniors", "officials", "public"],
        manifest_extra={},
    )


def test_bundles_map_user_ids_and_arrays_and_verify_them(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    bundle = load_bundle(folder)
    assert isinstance(bundle.user_map, SortedIds)
    assert [bundle.user_map.get(i) for i in IDS] == list(range(len(IDS)))
    assert bundle.user_interactions("u3") == 1 and bundle.user_interactions("nobody") == 0
    assert all(isinstance(a, np.memmap) for a in bundle.arrays.values())
    keys = folder / "user_ids.keys.npy"
    np.save(keys, np.sort(np.asarray([b"u1", b"u2"], dtype=np.bytes_)))
    with pytest.raises(BundleError, match=r"user_ids\.keys\.npy: sha256 mismatch"):
        load_bundle(folder)


def test_bundles_written_before_mapped_ids_still_load(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    for name in ("user_ids.keys.npy", "user_ids.rows.npy"):
        (folder / name).unlink()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {
        n: d for n, d in manifest["files"].items() if not n.startswith("user_ids.") or n.endswith("json")
    }
    assert manifest["files"]["user_ids.json"] == sha256_file(folder / "user_ids.json")
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    bundle = load_bundle(folder)
    assert isinstance(bundle.user_map, IdMap)
    assert [bundle.user_map.get(i) for i in IDS] == list(range(len(IDS)))
