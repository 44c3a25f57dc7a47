"""Compute threads per API worker: numpy's BLAS and faiss's OpenMP pools pinned once at start-up.

Why: a request is one short matrix-vector product and, for readers with history, a small faiss search;
neither gains from a second thread, but both libraries start one thread per core in every process. With
`--workers 2` on 2 cores that is 4+ busy threads fighting for 2 cores (and a worker's own request threads
on top): a 3-query exact faiss search under one competing process measured p50 7.7 / p99 24 ms with 2
threads vs 5.1 / 6.4 ms with 1. Serving parallelism comes from worker processes and request threads, so
each worker's compute pools get `KEPU_COMPUTE_THREADS` threads (default 1; 0 leaves the libraries' own
defaults, e.g. for a single worker on a many-core box).

OpenMP's thread count is a per-thread setting (libgomp keeps it in the calling thread's data environment):
set in the start-up thread it does not reach the request threads, which start from the library default.
So start-up pins the process-wide pools (numpy's OpenBLAS, through threadpoolctl) and every request thread
pins its own OpenMP count once, on its first compute request (`pin_current_thread`, one attribute read after).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

_limiter: Any = None  # threadpoolctl keeps the limits while its limiter object lives
_threads = 0  # what pin_compute_threads set (0: nothing pinned)
_local = threading.local()


def pin_compute_threads(threads: int) -> dict[str, int]:
    """Limit BLAS/OpenMP pools of this process to `threads` (0: leave them). Returns {pool: threads} as
    applied, for the start-up log."""
    global _limiter, _threads
    _threads = max(0, threads)
    if threads <= 0:  # the libraries' defaults (undo an earlier pin in this process)
        if _limiter is not None:
            _limiter.restore_original_limits()
            _limiter = None
        return {}
    applied: dict[str, int] = {}
    try:
        from threadpoolctl import threadpool_limits  # scikit-learn's and implicit's own dependency
    except ImportError:  # pragma: no cover - always installed with scikit-learn
        logger.warning("threadpoolctl missing: BLAS threads are not pinned")
    else:
        _limiter = threadpool_limits(limits=threads)
        for pool in _limiter.get_original_num_threads():
            applied[pool] = threads
    pin_current_thread()
    applied["openmp (per request thread)"] = threads
    logger.info("compute threads per worker: %s", applied)
    return applied


def pin_current_thread() -> None:
    """Give this thread's OpenMP pool (faiss, and the OpenMP OpenBLAS faiss ships) the pinned count, once."""
    if _threads and getattr(_local, "threads", 0) != _threads:
        import faiss

        faiss.omp_set_num_threads(_threads)
        _local.threads = _threads
