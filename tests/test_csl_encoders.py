"""CSL encoder evaluation: the shared loader and metric, and the default-beats-baseline check on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from content_catalog.encoders import TfidfSvdEncoder
from content_catalog.encoders.evaluation import (
    char_tfidf_baseline,
    cross_validated_agreement,
    load_csl,
    nearest_neighbours,
    neighbour_agreement,
)


def test_neighbour_agreement_on_known_geometry() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    assert neighbour_agreement(vectors, ["a", "a", "b", "b"], k=1) == 1.0
    assert neighbour_agreement(vectors, ["a", "b", "a", "b"], k=1) == 0.0
    assert neighbour_agreement(vectors, ["a", "a", "b", "b"], k=3) == pytest.approx(1 / 3)


def test_nearest_neighbours_dense_and_sparse_agree_and_exclude_self() -> None:
    vectors = np.random.default_rng(0).random((50, 8)).astype(np.float32)
    dense = nearest_neighbours(vectors, k=5, block=7)
    sparse = nearest_neighbours(sp.csr_matrix(vectors), k=5)
    np.testing.assert_array_equal(dense, sparse)
    assert not (dense == np.arange(50)[:, None]).any()
    with pytest.raises(ValueError, match=r"k must be in 1\.\.49"):
        nearest_neighbours(vectors, k=50)


def test_cross_validation_never_shows_held_out_texts() -> None:
    texts = [f"t{i}" for i in range(20)]
    labels = ["x", "y"] * 10
    seen: list[set[str]] = []

    def encode_fold(train: list[str], train_labels: list[str], held: list[str]) -> np.ndarray:
        assert not set(train) & set(held) and len(train) == len(train_labels)
        seen.append(set(held))
        return np.eye(len(held), dtype=np.float32)[:, :2] + 1.0

    cross_validated_agreement(encode_fold, texts, labels, folds=4, k=2)
    assert set().union(*seen) == set(texts)


def write_csl(root: Path, title_in_ts: str = "水稻育种") -> None:
    (root / "csl" / "cls_ctg").mkdir(parents=True)
    (root / "csl" / "ts").mkdir(parents=True)
    for split in ("dev", "test"):
        (root / "csl" / "cls_ctg" / f"{split}.tsv").write_text(
            "to category\t水稻育种\t农学\nto category\t高血压\t医学\n", encoding="utf-8"
        )
        (root / "csl" / "ts" / f"{split}.tsv").write_text(
            f"to title\t摘要一\t{title_in_ts}\nto title\t摘要二\t高血压\n", encoding="utf-8"
        )
    (root / "csl" / "cls_ctg" / "train.tsv").write_text("to category\t背景标题\t工学\n", encoding="utf-8")


def test_load_csl_accepts_root_or_csl_folder(tmp_path: Path) -> None:
    write_csl(tmp_path)
    corpus = load_csl(tmp_path)
    assert len(corpus) == 4 and corpus.labels[:2] == ["农学", "医学"]
    assert corpus.documents[0] == "水稻育种。摘要一" and corpus.background_titles == ["背景标题"]
    assert load_csl(tmp_path / "csl").titles == corpus.titles


def test_load_csl_names_misaligned_file_and_line(tmp_path: Path) -> None:
    write_csl(tmp_path, title_in_ts="别的标题")
    with pytest.raises(ValueError, match=r"ts/dev\.tsv:1: title differs"):
        load_csl(tmp_path)
    with pytest.raises(FileNotFoundError, match="no CSL data"):
        load_csl(tmp_path / "nowhere")


@pytest.mark.dataset
def test_default_encoder_beats_char_tfidf_on_csl_abstracts(data_dir: Path) -> None:
    corpus = load_csl(data_dir)
    texts, labels = corpus.documents, corpus.labels
    assert len(texts) == 2000
    baseline = neighbour_agreement(char_tfidf_baseline(texts), labels)
    default = neighbour_agreement(TfidfSvdEncoder().fit_transform(texts), labels)
    assert baseline > 0.55  # sanity: the baseline itself is far above chance (sum of squared class shares, about 0.25)
    assert default > baseline + 0.01, f"default {default:.4f} vs char TF-IDF {baseline:.4f}"
