"""Precomputed neighbour lists (`content_catalog.item_neighbours` via `VectorIndex.neighbours`) answer exactly
as an exact search does through adds, replacements and removals, and `/similar` on them never serves a
deleted or hidden item and picks up a new one at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from content_catalog.vector_index import VectorIndex
from recommender.service import RecommendationService
from tests.test_api_support import make_store
from tests.test_catalog_changes import NOW, _fitted, _item


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _brute(index: VectorIndex, item: str, k: int, exclude: set[str]) -> list[str]:
    live = index.ids
    scores = np.stack([index.vector(i) for i in live]) @ index.vector(item)
    return [live[r] for r in np.argsort(-scores, kind="stable") if live[r] not in exclude | {item}][:k]


@pytest.mark.parametrize("hnsw_threshold", [100_000, 300])
def test_lists_stay_exact_through_adds_replacements_and_removals(tmp_path: Path, hnsw_threshold: int) -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng.normal(size=(500, 16)))
    ids = [f"i{n}" for n in range(500)]
    index = VectorIndex(16, hnsw_threshold=hnsw_threshold)
    index.add(ids[:350], vectors[:350])
    index.build_neighbours(width=24)
    index.add(ids[350:400], vectors[350:400])  # a batch: inserted into the lists
    for n in range(400, 500):  # one at a time (API writes); past 300 the HNSW index is built meanwhile
        index.add([ids[n]], vectors[n : n + 1])
    index.remove(ids[:20])
    index.add(ids[30:40], _unit(rng.normal(size=(10, 16))))  # edited texts: new vectors
    assert index.is_hnsw == (hnsw_threshold == 300) and index.has_neighbours
    exclude = {"i77", "i301"}
    for item in rng.choice(index.ids, 60).tolist():
        found = index.neighbours(item, 10, exclude)
        assert found is not None
        assert found[0] == _brute(index, item, 10, exclude)
    assert index.neighbours("i0", 10) is None  # removed
    assert index.neighbours("i50", 30) is None  # asks for more than a list can prove: search instead

    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)  # memory-mapped lists, still maintained after loading
    loaded.add(["new"], vectors[100:101] * 0.99)
    assert loaded.neighbours("i100", 1) == (["new"], pytest.approx([0.99], rel=1e-5))
    assert loaded.neighbours("new", 3)[0] == _brute(loaded, "new", 3, set())


def test_lists_built_behind_pick_up_items_added_meanwhile() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(220, 8)))
    index = VectorIndex(8)
    index.add([f"i{n}" for n in range(200)], vectors[:200])
    index.build_neighbours_behind(width=16)
    index.add([f"j{n}" for n in range(20)], vectors[200:])
    assert index.wait_for_neighbours(timeout=30) and index.has_neighbours
    for item in ["i3", "j5", "i150"]:
        assert index.neighbours(item, 8)[0] == _brute(index, item, 8, set())


def test_similar_from_lists_equals_search_and_never_serves_removed_or_hidden_items(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    encoder = _fitted()
    service = RecommendationService(store, None, encoder, VectorIndex(encoder.dim))
    service.warm_up()
    searched = [c.id for c in service.similar("seed-1", k=10)]
    service.index.build_neighbours(width=64)
    assert [c.id for c in service.similar("seed-1", k=10)] == searched

    expired = _item("old-1", "稻飞虱防治旧方法").model_copy(update={"expires_at": NOW - timedelta(hours=1)})
    store.upsert_items([_item("new-1", "稻飞虱防治新方法"), expired], actor="test")
    service.apply_item_changes()
    assert service.index.has_neighbours  # kept up to date, not rebuilt
    assert service.index.neighbours("seed-1", 64) is not None  # so similar() below reads the lists
    cards = [c.id for c in service.similar("seed-1", k=40)]
    assert "new-1" in cards and "old-1" not in cards

    store.delete_item("new-1", actor="test")
    service.apply_item_changes()
    assert "new-1" not in [c.id for c in service.similar("seed-1", k=40)]


def test_lists_built_after_loading_are_kept_with_the_saved_index_for_the_next_start(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    index = VectorIndex(8)
    index.add([f"i{n}" for n in range(120)], _unit(rng.normal(size=(120, 8))))
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert not loaded.has_neighbours
    loaded.build_neighbours_behind(width=16)
    assert loaded.wait_for_neighbours(timeout=30) and loaded.has_neighbours
    again = VectorIndex.load(tmp_path)  # maps what the first one kept
    assert again.has_neighbours and again.neighbours("i7", 5) == loaded.neighbours("i7", 5)

    changed = VectorIndex(8)
    changed.add([f"i{n}" for n in range(120)], _unit(rng.normal(size=(120, 8))))
    changed.save(tmp_path / "other")
    changed = VectorIndex.load(tmp_path / "other")
    changed.remove(["i0"])
    changed.build_neighbours_behind(width=8)  # changed since loading: never written over the saved lists
    assert changed.wait_for_neighbours(timeout=30)
    assert changed.has_neighbours and not VectorIndex.load(tmp_path / "other").has_neighbours
