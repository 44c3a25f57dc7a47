"""Metrics against hand-computed small cases (arithmetic in comments) and against LightFM's own evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation.metrics import (
    AUC,
    MRR,
    NDCG,
    CatalogCoverage,
    HitRate,
    IntraListDiversity,
    Novelty,
    Precision,
    Recall,
    per_segment_counts,
    per_segment_mean,
)

# 3 users, 5 items. Relevant: user0 {1, 3}; user1 {0}; user2 nothing (must be left out of means).
TRUTH = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
RECO = np.array([[1, 2, 3], [2, 4, 0], [0, 1, 2]])
# user0 hits at ranks 1 and 3 -> [1, 0, 1]; user1 hit at rank 3 -> [0, 0, 1]


def test_precision_is_hits_over_k() -> None:
    # user0: 2/3, user1: 1/3, user2: undefined -> mean (2/3 + 1/3) / 2 = 0.5
    per_user = Precision(3).calc_per_user(RECO, TRUTH)
    np.testing.assert_allclose(per_user[:2], [2 / 3, 1 / 3])
    assert math.isnan(per_user[2])
    assert Precision(3).calc(RECO, TRUTH) == pytest.approx(0.5)


def test_recall_is_hits_over_relevant() -> None:
    # user0: 2/2 = 1, user1: 1/1 = 1; with k=1: user0 1/2 (item 1 at rank 1), user1 0/1 -> mean 0.25
    assert Recall(3).calc(RECO, TRUTH) == pytest.approx(1.0)
    assert Recall(1).calc(RECO, TRUTH) == pytest.approx(0.25)


def test_ndcg_binary_gains_and_ideal_over_min_relevant_k() -> None:
    # user0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (2 relevant) = 1 + 1/log2(3) = 1.63093 -> 0.91972
    # user1: DCG = 1/log2(4) = 0.5; IDCG (1 relevant) = 1 -> 0.5; mean = 0.70986
    per_user = NDCG(3).calc_per_user(RECO, TRUTH)
    np.testing.assert_allclose(per_user[:2], [1.5 / (1 + 1 / math.log2(3)), 0.5])
    assert NDCG(3).calc(RECO, TRUTH) == pytest.approx((1.5 / (1 + 1 / math.log2(3)) + 0.5) / 2)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 4 relevant items, k=2, both slots hit: DCG = IDCG = 1 + 1/log2(3) -> 1.0
    truth = sp.csr_matrix(np.array([[1, 1, 1, 1, 0]], dtype=np.float32))
    assert NDCG(2).calc(np.array([[0, 1]]), truth) == pytest.approx(1.0)


def test_mrr_and_hit_rate() -> None:
    # first hits at rank 1 and rank 3 -> (1 + 1/3) / 2; both users have a hit -> 1.0
    assert MRR(3).calc(RECO, TRUTH) == pytest.approx((1 + 1 / 3) / 2)
    assert HitRate(3).calc(RECO, TRUTH) == pytest.approx(1.0)
    # k=2: user0 still hits at rank 1, user1 has none -> MRR (1 + 0)/2, hit rate 1/2
    assert MRR(2).calc(RECO, TRUTH) == pytest.approx(0.5)
    assert HitRate(2).calc(RECO, TRUTH) == pytest.approx(0.5)


def test_padding_never_hits_and_short_reco_is_rejected() -> None:
    # user0 gets only item 1 then padding: precision 1/3, recall 1/2
    reco = np.array([[1, -1, -1], [0, -1, -1], [-1, -1, -1]])
    np.testing.assert_allclose(Precision(3).calc_per_user(reco, TRUTH)[:2], [1 / 3, 1 / 3])
    np.testing.assert_allclose(Recall(3).calc_per_user(reco, TRUTH)[:2], [0.5, 1.0])
    with pytest.raises(ValueError, match="fewer than k=4"):
        Precision(4).calc(RECO, TRUTH)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        Recall(0).calc(RECO, TRUTH)


def test_auc_excludes_items_and_handles_ties() -> None:
    scores = np.array([[0.1, 0.9, 0.3, 0.5, 0.2], [0.4, 0.1, 0.6, 0.2, 0.4], [0.0, 0.0, 0.0, 0.0, 0.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    per_user = AUC().calc_per_user(scores, TRUTH, exclude=exclude)
    # user0: positives .9, .5 vs negatives {0: .1, 4: .2} (item 2 excluded) -> 4/4 pairs won = 1.0
    # user1: positive .4 vs {.1 win, .6 loss, .2 win, .4 tie = 1/2} -> 2.5 / 4 = 0.625
    # user2: no positive -> NaN
    np.testing.assert_allclose(per_user[:2], [1.0, 0.625])
    assert math.isnan(per_user[2])
    # candidates {0, 2, 3}: user1 positive .4 vs {.6 loss, .2 win} -> 0.5; user0 positive .5 vs .1 -> 1.0
    np.testing.assert_allclose(AUC().calc_per_user(scores, TRUTH, candidates=np.array([0, 2, 3]))[:2], [1.0, 0.5])


def test_coverage_novelty_diversity() -> None:
    reco = np.array([[0, 1], [1, 2]])
    # items {0, 1, 2} of 5 -> 0.6; marginal contributions: row0 adds 2/5, row1 adds 1/5
    assert CatalogCoverage(2, 5).calc(reco) == pytest.approx(0.6)
    np.testing.assert_allclose(CatalogCoverage(2, 5).calc_per_user(reco), [0.4, 0.2])
    # shares 4/4, 2/4, 1/4, 0->1/4: self-information [0, 1, 2, 2]; lists: (0+1)/2, (1+2)/2
    novelty = Novelty(2, np.array([4, 2, 1, 0]), n_users=4)
    np.testing.assert_allclose(novelty.calc_per_user(reco), [0.5, 1.5])
    assert novelty.calc(reco) == pytest.approx(1.0)
    # vectors a=(1,0), b=(0,1), c=(1,1): 1-cos: ab 1, ac 1-1/sqrt2, bc 1-1/sqrt2 -> mean (3 - sqrt2) / 3
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ild = IntraListDiversity(3, vectors)
    assert ild.calc(np.array([[0, 1, 2]])) == pytest.approx((3 - math.sqrt(2)) / 3)
    assert math.isnan(ild.calc_per_user(np.array([[0, -1, -1]]))[0])


def test_per_segment_mean_skips_undefined_users() -> None:
    # segment a: (1 + 0) / 2 = 0.5; segment b: only 0.5 is defined -> 0.5, with 1 counted user
    per_user = np.array([1.0, 0.0, np.nan, 0.5])
    segments = np.array(["a", "a", "b", "b"])
    assert per_segment_mean(per_user, segments).to_dict() == {"a": 0.5, "b": 0.5}
    assert per_segment_counts(per_user, segments).to_dict() == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match="segment labels"):
        per_segment_mean(per_user, segments[:3])


def test_precision_and_auc_match_lightfm_evaluation() -> None:
    from lightfm.evaluation import auc_score, precision_at_k

    from recommender.models import LightFMModel, top_k

    rng = np.random.default_rng(0)
    dense = (rng.random((30, 40)) < 0.25).astype(np.float32)
    train_mask = rng.random(dense.shape) < 0.7
    train = sp.csr_matrix(dense * train_mask)
    test = sp.csr_matrix(dense * ~train_mask)
    model = LightFMModel(no_components=4, epochs=3, random_state=0).fit(train)
    scores = model.score(np.arange(30))
    assert Precision(5).calc(top_k(scores, 5, exclude=train)[0], test) == pytest.approx(
        float(precision_at_k(model.model_, test, train, k=5).mean()), abs=1e-6
    )
    assert AUC().calc(scores, test, exclude=train) == pytest.approx(
        float(auc_score(model.model_, test, train).mean()), abs=1e-4
    )
