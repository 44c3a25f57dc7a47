"""Build the online RecommendationService for a store and (optional) model bundle.

The text encoder and the vector index come from the catalog's saved embeddings
(`content_catalog.catalog_index`): the same fitted encoder that `kepu catalog embed` and training used,
brought up to date with the live catalog in memory by the service's first catalog build (only new or
edited items are encoded; the provider saves the result in the background, never before listening).
Items written later are encoded with it and added to the index, so they are recommendable without retraining.
Each item's nearest items (`/similar`, content candidates) come from the index's precomputed neighbour lists:
loaded with the index when it was saved with them, else computed on a background thread at start (the
index answers by search until they are in; `content_catalog.item_neighbours`).
"""

from __future__ import annotations

from api.settings import ApiSettings
from content_catalog.catalog_index import new_encoder, open_catalog_index
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.registry import Bundle
from recommender.service import RecommendationService, ServiceSettings

NEIGHBOUR_LISTS_FROM = 2_000
"""Catalog size from which the server precomputes neighbour lists (below it an exact search costs µs)."""
NEIGHBOUR_LISTS_UP_TO = 300_000
"""...and up to which: the exact batch pass grows with the square of the catalog (~1 min of one core at 100k,
~10 min at 300k; 1M would be ~2 h and 1 GB per worker), so larger catalogs search their HNSW index instead."""


def service_settings(settings: ApiSettings) -> ServiceSettings:
    """Online knobs taken from the API settings."""
    return ServiceSettings(
        cursor_secret=settings.cursor_secret,
        snapshot_ttl_seconds=settings.snapshot_ttl_seconds,
        snapshot_max_stored=settings.snapshot_max_stored,
        search_cache_dir=settings.resolved_cache_dir,
    )


def build_service(store: Store, bundle: Bundle | None, settings: ApiSettings) -> RecommendationService:
    """Encoder + vector index over the live catalog + the bundle (None: content/rules-only ranking)."""
    if store.count_items() == 0:
        # Nothing to fit the encoder on yet: the provider rebuilds the service on the first item write,
        # so this empty index's dimension is never used for vectors.
        encoder, index = new_encoder(settings), VectorIndex(settings.encoder_dim)
    else:
        catalog = open_catalog_index(store, settings)  # items written since it was saved: encoded on warm-up
        encoder, index = catalog.encoder, catalog.index
        index.background_rebuilds = True  # exact -> HNSW and compactions never run inside a request
        wanted = NEIGHBOUR_LISTS_FROM <= len(index) <= NEIGHBOUR_LISTS_UP_TO
        if index.metric == "ip" and wanted and not index.has_neighbours:
            index.build_neighbours_behind()
    return RecommendationService(store, bundle, encoder, index, settings=service_settings(settings))
