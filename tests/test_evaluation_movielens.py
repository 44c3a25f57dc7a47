"""Protocol registry, result tables and data loading; the `dataset` tests run on the real ml-100k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender.evaluation import (
    EvaluationResult,
    ModelRun,
    available_protocols,
    format_table,
    register_protocol,
    run_protocol,
    to_json,
)
from recommender.evaluation.datasets import DatasetNotFoundError, load_movielens_100k, resolve_movielens_dir


def _toy_protocol(data_dir: Path | None, seed: int, k: int, fast: bool) -> list[ModelRun]:
    """A registered protocol needs no data set: two models whose NDCG depends on the seed."""
    return [
        ModelRun(
            "A",
            seed,
            {"ndcg": 0.1 * (seed + 1), "recall": 0.5},
            fit_seconds=1.0,
            segments={"age_band": {"<18": {"ndcg": 0.2}}},
        ),
        ModelRun("B", seed, {"ndcg": 0.3, "recall": float("nan")}, fit_seconds=2.0),
    ]


def test_registry_runs_seeds_and_summarises() -> None:
    register_protocol(
        "toy-for-tests", _toy_protocol, description="toy", published={"paper": {"ndcg": 0.25}}, replace=True
    )
    assert "toy-for-tests" in available_protocols()
    with pytest.raises(ValueError, match="already registered"):
        register_protocol("toy-for-tests", _toy_protocol)
    result = run_protocol("toy-for-tests", seeds=(0, 1))
    # model A: ndcg 0.1 and 0.2 -> mean 0.15, sample std sqrt(((0.05)^2 * 2) / 1) = 0.0707
    assert result.mean("A", "ndcg") == pytest.approx(0.15)
    summary = result.summary()
    assert summary.loc["A", ("ndcg", "std")] == pytest.approx(0.0707107, abs=1e-6)
    assert result.segment_summary("age_band", "ndcg").loc["<18", "A"] == pytest.approx(0.2)
    table = format_table(result)
    assert "0.1500±0.0707" in table and "[published] paper" in table
    payload = json.loads(to_json(result))
    assert payload["summary"]["A"]["ndcg"]["mean"] == pytest.approx(0.15)
    assert payload["summary"]["B"]["recall"]["mean"] is None  # NaN becomes null, JSON stays valid
    assert len(payload["runs"]) == 4
    with pytest.raises(KeyError, match="unknown protocol"):
        run_protocol("no-such-protocol")


def test_missing_data_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFoundError, match="movielens-100k"):
        resolve_movielens_dir(tmp_path)
    monkeypatch.delenv("KEPU_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError, match="KEPU_DATA_DIR"):
        resolve_movielens_dir(None)


def test_malformed_ratings_file_names_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "movielens-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t881250949\n1\t9\t3\t881250950\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n")
    (folder / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||url" + "|0" * 19 + "\n", encoding="latin-1")
    with pytest.raises(ValueError, match="line 2"):
        load_movielens_100k(tmp_path)


@pytest.mark.dataset
def test_movielens_loader_counts(data_dir: Path) -> None:
    data = load_movielens_100k(data_dir)
    assert (data.n_users, data.n_items, len(data.ratings)) == (943, 1682, 100_000)
    assert data.interaction_matrix().nnz == 100_000
    assert set(data.users["age_band"]) <= {"<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"}


@pytest.mark.dataset
def test_recbole_protocol_one_seed_beats_published_bpr(data_dir: Path) -> None:
    """CI guard: one seed of movielens-recbole with the best single model (EASE): NDCG@10 >= 0.29."""
    result: EvaluationResult = run_protocol("movielens-recbole", data_dir, seeds=(0,), k=10, fast=True)
    ndcg = result.mean("EASE", "ndcg")
    assert ndcg >= 0.29, f"EASE NDCG@10 {ndcg:.4f} below 0.29 (RecBole BPR publishes 0.2920)"
    assert result.mean("EASE", "recall") >= 0.26
    assert result.mean("EASE", "ndcg") > result.mean("Popularity", "ndcg")
    assert not np.isnan(result.mean("EASE", "auc"))
