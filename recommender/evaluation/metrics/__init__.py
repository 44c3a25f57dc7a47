"""Offline metrics, one family per module, each with `calc` (mean) and `calc_per_user` (array).

List metrics take `reco` (n_users, >=k) int item indices padded with -1 and `truth` CSR (n_users, n_items).
"""

from recommender.evaluation.metrics.auc import AUC
from recommender.evaluation.metrics.beyond_accuracy import CatalogCoverage, IntraListDiversity, Novelty
from recommender.evaluation.metrics.classification import HitRate, Precision, Recall
from recommender.evaluation.metrics.ranking import MRR, NDCG
from recommender.evaluation.metrics.slicing import per_segment_counts, per_segment_mean

__all__ = [
    "AUC",
    "MRR",
    "NDCG",
    "CatalogCoverage",
    "HitRate",
    "IntraListDiversity",
    "Novelty",
    "Precision",
    "Recall",
    "per_segment_counts",
    "per_segment_mean",
]
