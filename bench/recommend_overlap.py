"""How far the served list is from the exact one at scale: top-k overlap, this code's shortcuts vs the plain
path, on a built world (in process, one service, the same requests).

The shortcuts measured (issue 8, target 3): the model product over the item-matrix columns that can
contribute (`recommender.model_product`, large catalogs only) and per-profile scores computed once
(`recommender.profile_scores`). The exact reference is the same service with both replaced by the plain
`catalog_items @ user_vector` per request. Also times both (thread CPU per request, alternating).

    PYTHONPATH=$PWD .venv/bin/python bench/recommend_overlap.py --world COPY_OF_A_WORLD [--requests 200] [--k 20]
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_scale import AUDIENCES  # noqa: E402
from bench.scale_world import users_sample, world_at  # noqa: E402
from recommender.candidates import model_scores  # noqa: E402
from recommender.profile_scores import ProfileScores  # noqa: E402
from recommender.service import RecommendationRequest  # noqa: E402


class _PlainProduct:
    def scores(self, matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return model_scores(matrix, vector)


class _PlainProfiles:
    """Stands in for ProfileScoresCache: a fresh product per request, no sorted order (partitioned)."""

    def get(self, matrix: np.ndarray, profile: object, vector: np.ndarray) -> ProfileScores:
        return ProfileScores(profile, model_scores(matrix, vector), np.zeros(0, dtype=np.int32))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=200, help="per kind (trained users, audience + session)")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    world = world_at(args.world)
    for name, value in world.env().items():
        os.environ[name] = value
    from api.service_factory import build_service
    from api.settings import ApiSettings
    from content_catalog.store import Store
    from recommender.registry import load_active

    settings = ApiSettings()
    store = Store.from_settings(settings)
    started = time.perf_counter()
    fast = build_service(store, load_active(store), settings)
    fast.warm_up()
    exact = build_service(store, fast.bundle, settings)
    exact.warm_up()
    exact._compact = _PlainProduct()  # type: ignore[assignment]
    exact._profile_scores = _PlainProfiles()  # type: ignore[assignment]
    print(f"{world.var_dir}: {fast._cat.view.size:,} items; two services warm in {time.perf_counter() - started:.0f} s")
    now = datetime.now(UTC)
    users = [u.id for u in users_sample(world, args.requests)]
    kinds = {
        "trained user": [RecommendationRequest(user_id=u, k=args.k, now=now) for u in users],
        "audience + session": [
            RecommendationRequest(audience=AUDIENCES[i % len(AUDIENCES)], session_id=f"ov-{i}", k=args.k, now=now)
            for i in range(args.requests)
        ],
    }
    print(f"| requests | n | top-{args.k} overlap mean | identical lists | CPU ms p50 exact / this |")
    print("| --- | --- | --- | --- | --- |")
    for kind, requests in kinds.items():
        overlaps, same, cpu = [], 0, {"exact": [], "this": []}
        for request in requests:
            lists = {}
            for name, service in (("exact", exact), ("this", fast)):
                clock = time.thread_time()
                lists[name] = [c.id for c in service.recommend(request).items]
                cpu[name].append((time.thread_time() - clock) * 1e3)
            overlaps.append(len(set(lists["exact"]) & set(lists["this"])) / max(1, len(lists["exact"])))
            same += lists["exact"] == lists["this"]
        print(
            f"| {kind} | {len(requests)} | {np.mean(overlaps):.4f} | {same}/{len(requests)} "
            f"| {np.median(cpu['exact']):.2f} / {np.median(cpu['this']):.2f} |"
        )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
