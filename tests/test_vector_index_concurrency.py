"""Issue 9 defect 10: the vector index is searched by request threads while catalog writes add and remove
items; every search must see a consistent index, and a search must not change the shared efSearch."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from content_catalog.rwlock import ReadWriteLock
from content_catalog.vector_index import VectorIndex

DIM = 16
STABLE = 50
WRITES = 150
SEARCHES = 300


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("hnsw_threshold", [10, 100_000], ids=["hnsw", "flat"])
def test_searches_stay_correct_while_items_are_added_and_removed(hnsw_threshold: int) -> None:
    rng = np.random.default_rng(7)
    stable = unit_rows(rng, STABLE)
    index = VectorIndex(DIM, hnsw_threshold=hnsw_threshold, ef_search=64, rebuild_fraction=0.05)
    index.add([f"s{i}" for i in range(STABLE)], stable)
    churn = unit_rows(rng, WRITES) * 0.5  # churned items never outscore a stable item against itself
    failures: list[str] = []
    start = threading.Barrier(4)

    def writer(offset: int) -> None:
        start.wait()
        for n in range(offset, WRITES, 2):
            index.add([f"c{n}"], churn[n])
            if n >= 4:
                index.remove([f"c{n - 4}"])  # tombstones pile up: HNSW graph rebuilds under the searches

    def searcher(seed: int) -> None:
        local = np.random.default_rng(seed)
        start.wait()
        for _ in range(SEARCHES):
            row = int(local.integers(STABLE))
            try:
                ids, scores = index.search(stable[row], k=3)
            except Exception as exc:  # any crash of a search is the defect
                failures.append(f"search raised {exc!r}")
                return
            if ids[0][:1] != [f"s{row}"] or not scores[0][0] > 0.99:
                failures.append(f"query s{row}: got {ids[0]} {scores[0].tolist()}")

    threads = [threading.Thread(target=writer, args=(o,)) for o in (0, 1)]
    threads += [threading.Thread(target=searcher, args=(s,)) for s in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(index) == STABLE + 4
    if index.is_hnsw:
        assert faiss.downcast_index(index._index.index).hnsw.efSearch == 64  # searches never changed it


def test_search_breadth_is_per_call_not_shared() -> None:
    rng = np.random.default_rng(3)
    index = VectorIndex(DIM, hnsw_threshold=10, ef_search=16)
    index.add([f"i{n}" for n in range(200)], unit_rows(rng, 200))
    assert index.is_hnsw
    ids, _ = index.search(unit_rows(rng, 1), k=150)  # needs a breadth of 150
    assert len(ids[0]) == 150
    assert faiss.downcast_index(index._index.index).hnsw.efSearch == 16


def test_rwlock_writer_waits_for_readers_and_excludes_them() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    reader_in = threading.Event()
    release_reader = threading.Event()

    def reader() -> None:
        with lock.reading():
            events.append("read-start")
            reader_in.set()
            release_reader.wait(timeout=30)
            events.append("read-end")

    def writer() -> None:
        reader_in.wait(timeout=30)
        with lock.writing():
            events.append("write")

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    reader_in.wait(timeout=30)
    release_reader.set()
    for thread in threads:
        thread.join(timeout=30)
    assert events == ["read-start", "read-end", "write"]
