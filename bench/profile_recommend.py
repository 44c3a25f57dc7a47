"""Profile: where one `recommend` call's CPU goes at 100k items (the rotation of bench/recommend_latency.py).

    .venv/bin/python bench/profile_recommend.py [--cache-dir DIR] [--requests 150] [--sort cumulative] [--top 40]

cProfile with the calling thread's CPU clock (`time.thread_time`): the snapshot writer thread and other
processes on a shared machine are not counted, so the numbers hold under load (cProfile itself roughly
doubles them; read the shares). Uses the data `recommend_latency.py` cached in `--cache-dir`.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.recommend_latency import AUDIENCES, build  # noqa: E402
from recommender.service import RecommendationRequest, RecommendationService  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--cache-dir", type=Path, required=True, help="as given to recommend_latency.py")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    folder = args.cache_dir / f"items{args.items}-users5000-events100000"
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        store, bundle, (encoder, index) = build(args.data_dir, folder, args.items, 5_000, 100_000)
        service = RecommendationService(store, bundle, encoder, index)
        service._catalog()
        users = bundle.user_map.to_list()[:200]
        cursors: list[tuple[RecommendationRequest, str]] = []

        def call(n: int) -> None:  # the rotation of recommend_latency.py: users, sessions, cursor pages
            if n % 3 == 2 and cursors:
                first, cursor = cursors.pop(0)
                wanted = first.model_copy(update={"cursor": cursor})
            elif n % 3 == 1:
                wanted = RecommendationRequest(audience=AUDIENCES[n % len(AUDIENCES)], session_id=f"bench-{n}", k=20)
            else:
                wanted = RecommendationRequest(user_id=users[n % len(users)], k=20)
            page = service.recommend(wanted)
            if page.next_cursor and wanted.cursor is None:
                cursors.append((wanted, page.next_cursor))

        for n in range(30):
            call(n)
        profile = cProfile.Profile(time.thread_time)
        started = time.thread_time()
        profile.enable()
        for n in range(30, 30 + args.requests):
            call(n)
        profile.disable()
        spent = time.thread_time() - started
    print(
        f"{args.requests} requests, {spent / args.requests * 1e3:.1f} ms thread CPU each (profiled); load avg "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
