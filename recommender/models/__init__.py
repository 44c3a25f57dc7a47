"""Recommendation models over CSR users × items matrices, one per module, sharing `Recommender`.

Cold start: models with `score_new_items` (LightFMModel, ContentModel, ContentBilinearModel) score items
from features alone; models with `score_new_users` (LightFMModel, DemographicRidgeModel) and
`PopularityModel.score_segments` score users known only by features or segment.
"""

from recommender.models.base import Recommender, top_k
from recommender.models.blend import RankBlendModel, rank_blend
from recommender.models.cold_user_ranker import ColdUserRankerModel
from recommender.models.content import ContentModel
from recommender.models.content_bilinear import ContentBilinearModel
from recommender.models.demographic import DemographicRidgeModel
from recommender.models.ease import EASEModel
from recommender.models.item_knn import ItemKNNModel
from recommender.models.lightfm_model import LightFMModel
from recommender.models.popularity import PopularityModel

__all__ = [
    "ColdUserRankerModel",
    "ContentBilinearModel",
    "ContentModel",
    "DemographicRidgeModel",
    "EASEModel",
    "ItemKNNModel",
    "LightFMModel",
    "PopularityModel",
    "RankBlendModel",
    "Recommender",
    "rank_blend",
    "top_k",
]
