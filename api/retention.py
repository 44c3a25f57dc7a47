"""The retention purge run inside the service: events and feed snapshots older than
`KEPU_EVENT_RETENTION_DAYS` are deleted every `retention_interval_seconds`, by a background thread of
each worker (never on a request), in transactions of `purge_batch_size` rows.

Several workers may purge at once: deletes are idempotent, so the worst case is wasted work. The clock
is injected, and `tick()` runs one due purge synchronously, so tests drive it without sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from content_catalog.store import PurgeResult
from content_catalog.store.types import utc_now

log = logging.getLogger("kepu.retention")


class PurgingStore(Protocol):
    def purge_before(self, cutoff: datetime, *, batch_size: int = ..., now: datetime | None = None) -> PurgeResult: ...


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Data that happened before this moment is past retention."""
    return now - timedelta(days=retention_days)


class RetentionJob:
    """Runs `store.purge_before(now - retention_days)` when due; `start()` runs it on a daemon thread."""

    def __init__(
        self,
        store: PurgingStore,
        retention_days: int,
        interval_seconds: float,
        batch_size: int = 1_000,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if retention_days < 0 or interval_seconds < 0 or batch_size < 1:
            raise ValueError("RetentionJob: retention_days and interval_seconds must be >= 0, batch_size >= 1")
        self.store = store
        self.retention_days = retention_days
        self.interval = timedelta(seconds=interval_seconds)
        self.batch_size = batch_size
        self.clock = clock
        self.next_run: datetime | None = None  # None: due at once
        self.last_result: PurgeResult | None = None
        self.ran = threading.Event()  # set after each scheduled run (so tests wait on it, never sleep)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.retention_days > 0 and self.interval.total_seconds() > 0

    def tick(self) -> PurgeResult | None:
        """Purge when due (and schedule the next run); None when not due or disabled."""
        now = self.clock()
        if not self.enabled or (self.next_run is not None and now < self.next_run):
            return None
        self.next_run = now + self.interval
        cutoff = retention_cutoff(now, self.retention_days)
        result = self.store.purge_before(cutoff, batch_size=self.batch_size, now=now)
        self.last_result = result
        if result.events or result.snapshots:
            log.info("retention purge: %d events, %d snapshots before %s", result.events, result.snapshots, cutoff)
        return result

    def start(self) -> None:
        """Run `tick` now and then every interval on a daemon thread, until `stop()`."""
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="kepu-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.tick()
            except Exception:  # a failed purge (store briefly down) is retried next interval
                log.exception("retention purge failed")
            self.ran.set()
            wait = self.interval.total_seconds()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
