"""Per-client rate limits for the anonymous (public) endpoints: reads and the museum widget's events.

Only callers without an API key are throttled: a keyed caller is a known integration (editor page,
mini-program backend, ingest jobs) and is never limited here, so a flood of anonymous visitors cannot
starve it. A request with a wrong key is refused with 401 before it reaches a limit.
Each client (its address as the ASGI server reports it; behind a proxy run uvicorn with
`--proxy-headers --forwarded-allow-ips=<proxy>`) has a token bucket per kind: `burst` requests at
once, refilled at `per_minute`. Limits are per worker process. The clock is injectable so tests are
deterministic.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from api.errors import ApiError
from api.settings import ApiSettings

Clock = Callable[[], float]
MAX_TRACKED_CLIENTS = 100_000
"""Buckets kept per limiter; the least recently seen client is forgotten first (memory stays bounded)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client. per_minute <= 0 disables the limit."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_clients: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, client: str) -> float | None:
        """Take one token for `client`: None when allowed, else the seconds until a token is available."""
        if not self.enabled:
            return None
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(client, None) or _Bucket(tokens=float(self.burst), updated=now)
            bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.updated) * rate)
            bucket.updated = now
            self._buckets[client] = bucket  # most recently seen last
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / rate


@dataclass(frozen=True)
class PublicRateLimits:
    """The two limiters of an app: anonymous reads and anonymous event posts."""

    reads: RateLimiter
    events: RateLimiter

    @classmethod
    def from_settings(cls, settings: ApiSettings, clock: Clock = time.monotonic) -> PublicRateLimits:
        return cls(
            reads=RateLimiter(settings.public_reads_per_minute, settings.public_reads_burst, clock=clock),
            events=RateLimiter(settings.public_events_per_minute, settings.public_events_burst, clock=clock),
        )


def client_address(request: Request) -> str:
    """Who is calling, for the limit: the peer address (rewritten by uvicorn's proxy-headers option)."""
    return request.client.host if request.client is not None else "unknown"


def throttle_anonymous(request: Request, kind: str) -> None:
    """Raise 429 with Retry-After when this anonymous client has used up its `kind` ("reads"/"events")."""
    limits: PublicRateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        return
    limiter = limits.reads if kind == "reads" else limits.events
    wait = limiter.hit(client_address(request))
    if wait is None:
        return
    setting = f"KEPU_PUBLIC_{kind.upper()}_PER_MINUTE"
    retry_after = max(1, math.ceil(wait))
    raise ApiError(
        429,
        f"too many anonymous {kind} from this client: at most {limiter.per_minute:g} per minute "
        f"(bursts of {limiter.burst}, {setting}); retry after {retry_after} s or use an API key",
        code="rate_limited",
        headers={"Retry-After": str(retry_after)},
    )
