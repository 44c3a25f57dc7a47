"""KEPU_COMPUTE_THREADS (api/compute_threads.py): OpenMP's count is per thread, so each request thread pins
its own; the process-wide BLAS pool is pinned once."""

from __future__ import annotations

import threading

import faiss
from threadpoolctl import threadpool_info

from api.compute_threads import pin_compute_threads, pin_current_thread
from api.settings import ApiSettings


def test_request_threads_get_the_pinned_count() -> None:
    assert ApiSettings().compute_threads == 1
    seen: dict[str, int] = {}

    def request_thread() -> None:
        seen["before"] = faiss.omp_get_max_threads()  # a thread starts from the library default
        pin_current_thread()
        seen["after"] = faiss.omp_get_max_threads()
        seen["blas"] = max(p["num_threads"] for p in threadpool_info() if p["internal_api"] == "openblas")

    try:
        applied = pin_compute_threads(1)
        assert applied["blas"] == 1
        worker = threading.Thread(target=request_thread)
        worker.start()
        worker.join()
        assert seen["after"] == 1 and seen["blas"] == 1
    finally:
        pin_compute_threads(0)
