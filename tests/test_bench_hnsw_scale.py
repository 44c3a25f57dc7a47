"""bench/hnsw_scale.py's own parts on a few hundred seeded vectors (the 1M run itself lives in bench/):
the served index is built through `VectorIndex.add`, switches to HNSW, is saved and reloaded, and recall is
measured against exact search."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import faiss
import numpy as np
import pytest

from content_catalog.vector_index import INDEX_FILE

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "hnsw_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("hnsw_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, 16)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_builds_the_served_hnsw_index_and_measures_recall(bench, tmp_path: Path) -> None:
    vectors, queries = unit_rows(400, 0), unit_rows(30, 1)
    index, stats = bench.build_or_load(vectors, tmp_path / "index", 200, queries, every=200)
    assert index.is_hnsw and len(index) == 400
    assert [point["items"] for point in stats["recall_by_size"]] == [400]
    assert stats["recall_by_size"][0]["recall_mean"] > 0.9

    again, loaded = bench.build_or_load(vectors, tmp_path / "index", 200, queries, every=200)
    assert "load_s" in loaded and again.is_hnsw and again.ids == index.ids

    exact = faiss.IndexFlatIP(16)
    exact.add(vectors)
    raw = faiss.read_index(str(tmp_path / "index" / INDEX_FILE))
    row = bench.measure(again, raw, exact, queries, ef=64)
    assert row["n"] == 30 and row["recall_mean"] == row["raw_recall_mean"] > 0.9
    assert row["vi_p50_ms"] > 0 and row["exact_p50_ms"] > 0

    pooled = bench.measure(again, raw, exact, queries, ef=16, fetch=100)  # as /search asks for its dense pool
    assert pooled["fetch"] == 100 and 0.9 < pooled["pool_recall_mean"] <= 1.0
    assert pooled["recall_mean"] > 0.9 and pooled["vi_p50_ms"] > 0


def test_recall_counts_the_exact_top_k_found(bench) -> None:
    assert bench.recall(np.array([3, 1, -1]), [1, 7]) == 0.5
    assert bench.position("scale-1000007") == 1_000_007


def test_a_missing_encoder_is_a_clear_error(bench, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no fitted encoder"):
        bench.resolve_encoder(tmp_path)
