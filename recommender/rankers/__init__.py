"""Servable rankers: every model the evaluation measures, behind one small `Ranker` protocol.

A ranker turns (interactions, user features, item features) into item representations and user
vectors such that `score(user, item) = item_matrix[item] · user_vector`: the online path then costs one
matrix-vector product per request whatever the model (LightFM embeddings, EASE / item-kNN item-item
weights over the user's live history, or a weighted concatenation of several for a blend).
"""

from recommender.rankers.base import (
    EASE_MAX_ITEMS,
    Ranker,
    RankerError,
    TrainingData,
    make_ranker,
    ranker_from_state,
    ranker_names,
    score_users,
)

__all__ = [
    "EASE_MAX_ITEMS",
    "Ranker",
    "RankerError",
    "TrainingData",
    "make_ranker",
    "ranker_from_state",
    "ranker_names",
    "score_users",
]
