"""Build the online RecommendationService for a store and (optional) model bundle.

The text encoder and the vector index come from the catalog's saved embeddings
(`content_catalog.catalog_index`): the same fitted encoder that `kepu catalog embed` and training used,
synced with the live catalog (only new or edited items are encoded). Items written later are encoded
with it and added to the index by the provider, so they are recommendable without retraining.
"""

from __future__ import annotations

from api.settings import ApiSettings
from content_catalog.catalog_index import embed_catalog, new_encoder
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.registry import Bundle
from recommender.service import RecommendationService, ServiceSettings


def service_settings(settings: ApiSettings) -> ServiceSettings:
    """Online knobs taken from the API settings."""
    return ServiceSettings(
        cursor_secret=settings.cursor_secret,
        snapshot_ttl_seconds=settings.snapshot_ttl_seconds,
        snapshot_max_stored=settings.snapshot_max_stored,
    )


def build_service(store: Store, bundle: Bundle | None, settings: ApiSettings) -> RecommendationService:
    """Encoder + vector index over the live catalog + the bundle (None: content/rules-only ranking)."""
    if store.count_items() == 0:
        # Nothing to fit the encoder on yet: the provider rebuilds the service on the first item write,
        # so this empty index's dimension is never used for vectors.
        encoder, index = new_encoder(settings), VectorIndex(settings.encoder_dim)
    else:
        catalog, _ = embed_catalog(store, settings)
        encoder, index = catalog.encoder, catalog.index
    return RecommendationService(store, bundle, encoder, index, settings=service_settings(settings))
