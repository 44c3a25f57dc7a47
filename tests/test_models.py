"""Models on tiny matrices: each must find an obvious pattern, respect filters, and reject bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.models import (
    ContentBilinearModel,
    ContentModel,
    DemographicRidgeModel,
    EASEModel,
    ItemKNNModel,
    LightFMModel,
    PopularityModel,
    top_k,
)


def co_occurrence_matrix() -> sp.csr_matrix:
    """Items 0 and 1 always appear together; items 2 and 3 always together; item 4 is noise.
    User 6 holds only item 0, user 7 only item 2: the obvious next items are 1 and 3."""
    rows = [
        [1, 1, 0, 0, 1],
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 0],
        [1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0],
    ]
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_top_k_orders_excludes_filters_and_pads() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    items, values = top_k(scores, 2)
    assert items.tolist() == [[1, 3], [0, 1]]
    np.testing.assert_allclose(values, [[0.9, 0.7], [0.4, 0.3]])
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0]]))
    assert top_k(scores, 2, exclude=exclude)[0].tolist() == [[3, 2], [1, 2]]
    assert top_k(scores, 2, candidates=np.array([0, 2]))[0].tolist() == [[2, 0], [0, 2]]
    padded, padded_scores = top_k(scores, 3, candidates=np.array([0, 2]))
    assert padded.tolist() == [[2, 0, -1], [0, 2, -1]]
    assert np.isneginf(padded_scores[:, 2]).all()
    with pytest.raises(ValueError, match="rows aligned with users"):
        top_k(scores, 2, exclude=sp.csr_matrix((3, 4)))


@pytest.mark.parametrize("model", [EASEModel(regularization=1.0), ItemKNNModel(n_neighbors=2, shrinkage=0.0)])
def test_item_models_recover_co_occurrence(model: EASEModel | ItemKNNModel) -> None:
    x = co_occurrence_matrix()
    model.fit(x)
    items, _ = model.recommend(np.array([6, 7]), 1, exclude=x[[6, 7]])
    assert items[:, 0].tolist() == [1, 3]


def test_recommend_never_returns_excluded_items() -> None:
    x = co_occurrence_matrix()
    model = EASEModel(regularization=1.0).fit(x)
    items, _ = model.recommend(np.arange(8), 5, exclude=x)
    for user in range(8):
        seen = set(x[user].indices)
        assert not seen & set(items[user][items[user] >= 0])
        assert len(items[user][items[user] >= 0]) == 5 - len(seen)


def test_model_input_errors_name_the_problem() -> None:
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        EASEModel().fit(np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        EASEModel().fit(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(RuntimeError, match="not fitted"):
        EASEModel().score(np.array([0]))
    with pytest.raises(IndexError, match="user_rows"):
        EASEModel(1.0).fit(co_occurrence_matrix()).score(np.array([8]))
    with pytest.raises(ValueError, match="regularization"):
        EASEModel(regularization=0).fit(co_occurrence_matrix())
    assert EASEModel(3.0).get_params() == {"regularization": 3.0}


def test_popularity_counts_decay_and_segments() -> None:
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32))
    pop = PopularityModel().fit(x)
    np.testing.assert_allclose(pop.score(np.array([0]))[0], [2, 1, 2])
    # item 0 seen at t=0 twice, item 2 at t=100 twice; half-life 100 -> item 0 weighs 2 * 0.5 = 1
    times = x.copy()
    times.data = np.array([0, 100, 0, 100, 100], dtype=np.float32)
    decayed = PopularityModel(half_life_seconds=100).fit(x, timestamps=times)
    np.testing.assert_allclose(decayed.item_scores_, [1.0, 1.0, 2.0])
    # segment a = users 0, 1 (likes items 0, 1), b = users 2, 3 (likes item 2)
    seg = PopularityModel(segment_shrinkage=0.0).fit(x).fit_segments(np.array(["a", "a", "b", "b"]))
    scores = seg.score_segments(np.array(["a", "b", "unknown"]))
    np.testing.assert_allclose(scores[0], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(scores[1], [0, 0, 1])
    np.testing.assert_allclose(scores[2], [0.4, 0.2, 0.4])  # global shares 2/5, 1/5, 2/5
    with pytest.raises(ValueError, match="segment_of_user"):
        seg.fit_segments(np.array(["a"]))


def test_lightfm_representations_reproduce_predict() -> None:
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((20, 15)) < 0.3).astype(np.float32))
    item_features = sp.csr_matrix((rng.random((15, 4)) < 0.5).astype(np.float32))
    model = LightFMModel(no_components=5, epochs=3, random_state=0).fit(x, item_features=item_features)
    users = np.repeat(np.arange(20), 15)
    items = np.tile(np.arange(15), 20)
    predicted = model.model_.predict(
        users, items, user_features=model.user_features_, item_features=model.item_features_
    )
    np.testing.assert_allclose(model.score(np.arange(20)).ravel(), predicted, atol=1e-5)


def test_lightfm_scores_unseen_items_and_users_from_features() -> None:
    rng = np.random.default_rng(1)
    x = sp.csr_matrix((rng.random((20, 15)) < 0.3).astype(np.float32))
    item_features = sp.csr_matrix((rng.random((15, 4)) < 0.5).astype(np.float32))
    user_features = sp.csr_matrix(np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)])
    model = LightFMModel(no_components=5, epochs=2, item_identity=False, user_identity=False, random_state=0)
    model.fit(x, user_features=user_features, item_features=item_features)
    new_items = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0]], dtype=np.float32))
    biases, vectors = model.item_representations_from_features(new_items)
    # row-normalised features [0.5, 0, 0, 0.5] -> mean of feature 0 and feature 3 embeddings
    np.testing.assert_allclose(
        vectors[0], 0.5 * (model.model_.item_embeddings[0] + model.model_.item_embeddings[3]), atol=1e-6
    )
    np.testing.assert_allclose(biases[1], model.model_.item_biases[1], atol=1e-6)
    assert model.score_new_items(np.arange(4), new_items).shape == (4, 2)
    assert model.score_new_users(user_features[:2]).shape == (2, 15)
    with pytest.raises(ValueError, match="4 item feature columns"):
        model.item_representations_from_features(sp.csr_matrix((1, 3)))


def _genre_world() -> tuple[sp.csr_matrix, np.ndarray]:
    """6 items: 0-2 are genre A, 3-5 genre B. Users 0-2 watch only A, users 3-5 only B (item 2 and 5 unseen)."""
    features = np.array([[1, 0]] * 3 + [[0, 1]] * 3, dtype=np.float32)
    x = np.zeros((6, 6), dtype=np.float32)
    x[:3, :2] = 1
    x[3:, 3:5] = 1
    return sp.csr_matrix(x), features


@pytest.mark.parametrize("model", [ContentModel(), ContentBilinearModel(regularization=0.1)])
def test_content_models_rank_new_items_by_content(model: ContentModel | ContentBilinearModel) -> None:
    x, features = _genre_world()
    model.fit(x[:, [0, 1, 3, 4]], item_features=features[[0, 1, 3, 4]])
    scores = model.score_new_items(np.arange(6), features[[2, 5]])  # new A item, new B item
    assert (scores[:3, 0] > scores[:3, 1]).all()
    assert (scores[3:, 1] > scores[3:, 0]).all()
    with pytest.raises(ValueError, match="columns"):
        model.score_new_items(np.arange(2), np.ones((1, 3)))


def test_content_model_requires_item_features() -> None:
    with pytest.raises(ValueError, match="item_features"):
        ContentModel().fit(co_occurrence_matrix())


def test_demographic_ridge_learns_segment_taste() -> None:
    x, _ = _genre_world()
    demographics = np.array([[1, 0]] * 3 + [[0, 1]] * 3, dtype=np.float32)  # group 0 likes A, group 1 likes B
    model = DemographicRidgeModel(regularization=0.1).fit(x, user_features=demographics)
    scores = model.score_new_users(np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert scores[0, :2].min() > scores[0, 3:5].max()
    assert scores[1, 3:5].min() > scores[1, :2].max()


def test_rank_blend_averages_rank_percentiles() -> None:
    from recommender.models import RankBlendModel, rank_blend

    # ranks of [3, 1, 2] -> [3, 1, 2]/3; of [1, 2, 3] -> [1, 2, 3]/3; equal weights -> [2, 1.5, 2.5]/3
    blended = rank_blend([np.array([[3.0, 1.0, 2.0]]), np.array([[1.0, 2.0, 3.0]])])
    np.testing.assert_allclose(blended, [[2 / 3, 0.5, 2.5 / 3]], rtol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        rank_blend([np.zeros((1, 3)), np.zeros((1, 2))])
    x = co_occurrence_matrix()
    blend = RankBlendModel([EASEModel(1.0), ItemKNNModel(2, 0.0)], [0.5, 0.5]).fit(x)
    assert blend.recommend(np.array([6, 7]), 1, exclude=x[[6, 7]])[0][:, 0].tolist() == [1, 3]
