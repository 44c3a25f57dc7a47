"""The HTTP benchmarks measure answers, not refusals: their servers run without the anonymous rate limit, and
a wrk run's non-2xx answers are counted (bench/catalog_changes.py once reported a /similar rate that was 99 %
429s from the default limit)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest

from api.rate_limit import PublicRateLimits
from api.settings import ApiSettings
from bench.http_scale import parse_wrk

# A real wrk 4 report (Debian's wrk, `-t2 -c8 --latency`) of the rate-limited run that exposed the problem.
RATE_LIMITED_RUN = """Running 5s test @ http://127.0.0.1:57251
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.19ms    9.81ms 148.78ms   95.90%
    Req/Sec     1.43k   675.65     2.87k    70.00%
  Latency Distribution
     50%    2.42ms
     75%    3.72ms
     90%    5.69ms
     99%   51.45ms
  14257 requests in 5.06s, 6.16MB read
  Non-2xx or 3xx responses: 14096
Requests/sec:   2819.40
Transfer/sec:      1.22MB
"""


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, str]]:
    """The script pins BLAS threads in os.environ when imported: undone after the test (other tests spawn
    servers that inherit this environment)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    return importlib.import_module("bench.catalog_changes").server_env


def test_catalog_benchmark_servers_answer_anonymous_reads_without_a_limit(
    monkeypatch: pytest.MonkeyPatch, server_env: Callable[[], dict[str, str]]
) -> None:
    default = PublicRateLimits.from_settings(ApiSettings())
    assert default.reads.enabled  # so the benchmark has to turn it off
    for name, value in server_env().items():
        monkeypatch.setenv(name, value)
    settings = ApiSettings()
    assert settings.public_reads
    limits = PublicRateLimits.from_settings(settings)
    assert not limits.reads.enabled
    assert all(limits.reads.hit("127.0.0.1") is None for _ in range(10 * default.reads.burst))


def test_wrk_report_counts_refused_answers_and_socket_errors() -> None:
    run = parse_wrk("similar", RATE_LIMITED_RUN)
    assert (run.rps, run.p50, run.p99, run.errors) == (2819.40, 2.42, 51.45, 14096)
    with_sockets = RATE_LIMITED_RUN.replace(
        "Non-2xx or 3xx responses: 14096\n", "Socket errors: connect 0, read 3, write 0, timeout 2\n"
    )
    assert parse_wrk("similar", with_sockets).errors == 5
