"""Train/serve consistency: an item added after training gets exactly the feature row training would have
given it — metadata *and* the text-cluster memberships of its encoder vector — and the service scores it
with the ranker's feature-only representation of that row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.service import RecommendationRequest, RecommendationService
from recommender.train import TrainParams, train_bundle
from tests.test_service_support import ENCODER_DIM, demo_encoder, demo_items, demo_traffic

PARAMS = TrainParams(no_components=8, epochs=3, n_text_clusters=6, holdout_fraction=0.0)


def test_item_added_after_training_gets_the_training_feature_row(tmp_path: Path) -> None:
    items = sorted(demo_items(), key=lambda it: it.id)
    late, early = items[0], items[1:]
    users, events, now = demo_traffic()
    store = Store(f"sqlite:///{tmp_path / 'kepu.db'}")
    try:
        store.upsert_items(early)
        for user in users:
            store.upsert_user(user)
        store.add_events([e for e in events if e.item_id != late.id])
        encoder = demo_encoder()
        bundle = train_bundle(store, encoder, tmp_path / "models", seed=4, params=PARAMS, model="lightfm")
        assert bundle.item_map.get(late.id) < 0
        index = VectorIndex(ENCODER_DIM)
        index.add([it.id for it in early], encoder.encode([it.text for it in early]))
        service = RecommendationService(store, bundle, encoder, index)
        service.recommend(RecommendationRequest(audience="public", now=now))
        store.upsert_items([late])  # added after training: no events, not in the model

        view, matrix, _ = service._catalog()
        row = view.ids.get(late.id)
        expected = bundle.item_features.transform([late], encoder.encode([late.text]))
        names = bundle.item_features.feature_names_
        text_columns = [j for j, name in enumerate(names) if name.startswith("text:")]
        assert expected[:, text_columns].nnz > 0  # the row really carries text-cluster features
        np.testing.assert_allclose(matrix[row], bundle.cold_item_matrix(expected)[0], rtol=1e-6)
        # and it differs from the metadata-only row the service built before (text features dropped)
        metadata_only = bundle.cold_item_matrix(bundle.item_features.transform([late]))[0]
        assert not np.allclose(matrix[row], metadata_only)
    finally:
        store.close()
