"""faiss vector index: exact search against numpy, updates, persistence, HNSW recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_catalog.vector_index import VectorIndex


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def numpy_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]


@pytest.fixture()
def data() -> tuple[list[str], np.ndarray]:
    vectors = unit_vectors(500, 24)
    return [f"item-{i}" for i in range(len(vectors))], vectors


def test_exact_search_matches_numpy(data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = VectorIndex(24)
    index.add(ids, vectors)
    queries = unit_vectors(20, 24, seed=1)
    found, scores = index.search(queries, 10)
    expected = numpy_top_k(vectors, queries, 10)
    assert found == [[ids[j] for j in row] for row in expected]
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, expected, axis=1), atol=1e-5)
    assert not index.is_hnsw and len(index) == 500 and "item-3" in index and "nope" not in index


def test_add_replaces_and_remove_deletes(data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = VectorIndex(24)
    index.add(ids, vectors)
    index.add(["item-7"], vectors[8])
    assert len(index) == 500
    np.testing.assert_allclose(index.vector("item-7"), vectors[8])
    assert index.remove(["item-8", "item-9", "unknown"]) == 2
    assert len(index) == 498 and "item-8" not in index
    found, _ = index.search(vectors[8], 1)
    assert found == [["item-7"]]
    with pytest.raises(KeyError, match="item-8"):
        index.vector("item-8")


def test_exclude_shared_and_per_query(data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = VectorIndex(24)
    index.add(ids, vectors)
    found, _ = index.search(vectors[:2], 3, exclude={"item-0", "item-1"})
    assert all(not {"item-0", "item-1"} & set(row) for row in found) and all(len(row) == 3 for row in found)
    found, _ = index.search(vectors[:2], 1, exclude=[{"item-0"}, set()])
    assert found[0] != ["item-0"] and found[1] == ["item-1"]


def test_fewer_items_than_k_pads_scores() -> None:
    index = VectorIndex(4)
    assert index.search(np.ones((1, 4), np.float32), 3)[0] == [[]]
    index.add(["a", "b"], np.eye(4, dtype=np.float32)[:2])
    found, scores = index.search(np.eye(4, dtype=np.float32)[:1], 3)
    assert found == [["a", "b"]]
    assert scores[0, 0] == pytest.approx(1.0) and np.isneginf(scores[0, 2])


def test_bad_input_is_reported() -> None:
    index = VectorIndex(4)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        index.add(["a"], np.ones((1, 5)))
    with pytest.raises(ValueError, match="2 ids but 1 vectors"):
        index.add(["a", "b"], np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"ids\[1\] repeats"):
        index.add(["a", "a"], np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        index.add(["a"], np.full((1, 4), np.nan))


def test_save_load_round_trip(tmp_path: Path, data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = VectorIndex(24, catalog_version="v1")
    index.add(ids, vectors)
    index.remove(["item-0"])
    index.save(tmp_path / "ix", catalog_version="2026-11-28T10:00")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert loaded.catalog_version == "2026-11-28T10:00" and len(loaded) == 499 and "item-0" not in loaded
    queries = unit_vectors(5, 24, seed=3)
    assert loaded.search(queries, 5)[0] == index.search(queries, 5)[0]
    loaded.add(["new"], vectors[0])
    assert loaded.search(vectors[0], 1)[0] == [["new"]]


def test_load_reports_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"index\.json not found"):
        VectorIndex.load(tmp_path)


def test_hnsw_recall_and_updates(tmp_path: Path) -> None:
    vectors = unit_vectors(3000, 32, seed=5)
    ids = [f"d{i}" for i in range(len(vectors))]
    index = VectorIndex(32, hnsw_threshold=1000, hnsw_m=16, ef_search=64)
    index.add(ids[:500], vectors[:500])
    assert not index.is_hnsw
    index.add(ids[500:], vectors[500:])
    assert index.is_hnsw
    queries = unit_vectors(100, 32, seed=6)
    found, _ = index.search(queries, 10)
    expected = numpy_top_k(vectors, queries, 10)
    recall = np.mean([len(set(row) & {ids[j] for j in exp}) / 10 for row, exp in zip(found, expected, strict=True)])
    assert recall >= 0.95

    removed = ids[:200]
    index.remove(removed)
    assert index.is_hnsw and len(index) == 2800
    found, _ = index.search(vectors[:200], 10)
    assert not set(removed) & {item for row in found for item in row}
    index.add(["d300"], vectors[0])  # replacement in HNSW: old vector tombstoned
    assert index.search(vectors[0], 1)[0] == [["d300"]]
    index.save(tmp_path / "hnsw")
    assert VectorIndex.load(tmp_path / "hnsw").search(vectors[0], 1)[0] == [["d300"]]

    index.remove(ids[200:2200])
    assert not index.is_hnsw and len(index) == 800
    survivors = ids[2200:]
    found, _ = index.search(vectors[2200:2210], 1)
    assert [row[0] for row in found] == survivors[:10]
