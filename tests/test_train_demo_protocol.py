"""The `demo-simulated` protocol is registered and reports every model, sliced per audience."""

from __future__ import annotations

import math

from content_catalog.taxonomy import AUDIENCES
from recommender.demo_protocol import NAME
from recommender.evaluation.protocols import available_protocols, run_protocol


def test_registered_and_marked_synthetic() -> None:
    assert "SYNTHETIC" in available_protocols()[NAME]


def test_fast_run_reports_models_and_audience_slices() -> None:
    result = run_protocol(NAME, seeds=[0], k=10, fast=True)
    models = [r.model for r in result.runs]
    assert models == ["Popularity", "AudiencePopularity", "LightFM-WARP", "LightFM-hybrid", "KepuService"]
    for run in result.runs:
        assert 0.0 <= run.metrics["ndcg"] <= 1.0 and 0.0 < run.metrics["coverage"] <= 1.0
        assert math.isfinite(run.metrics["auc"]) or run.model == "KepuService"  # lists only, no scores
        assert set(run.segments["audience"]) <= set(AUDIENCES)
        assert len(run.segments["audience"]) >= 4
    service = result.runs[-1]
    assert service.metrics["hit"] > 0, "the online path should find some held-out items"
