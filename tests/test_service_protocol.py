"""CI guard for what visitors are served: a fast `movielens-service` run (MovieLens loaded into a real
store, trained by `kepu train`'s code, every sampled test user asked for through RecommendationService)."""

from __future__ import annotations

from pathlib import Path

import pytest

import recommender.evaluation.service_protocol  # noqa: F401  (registers the protocol)
from recommender.evaluation import run_protocol
from tests.conftest import require_data_root


@pytest.mark.dataset
def test_served_list_on_movielens_stays_above_the_floor(data_dir: Path) -> None:
    """One seed, one cheap model (EASE), 150 sampled test users: served NDCG@10 must stay >= 0.29, above
    popularity, and close to the bare model (the online stages may not throw away what the model knows)."""
    result = run_protocol("movielens-service", data_dir, seeds=(0,), k=10, fast=True)
    served = result.mean("Served (ease)", "ndcg")
    bare = result.mean("Bare ease", "ndcg")
    assert served >= 0.29, f"served NDCG@10 {served:.4f} below 0.29"
    assert served >= 0.95 * bare, f"served {served:.4f} more than 5% below the bare model {bare:.4f}"
    assert served > 1.5 * result.mean("Popularity", "ndcg")


def test_dataset_tests_fail_under_ci_without_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true and no KEPU_DATA_DIR, a dataset test fails instead of skipping silently."""
    monkeypatch.delenv("KEPU_DATA_DIR", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="dataset tests are required in CI"):
        require_data_root()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="KEPU_DATA_DIR is unset"):
        require_data_root()
