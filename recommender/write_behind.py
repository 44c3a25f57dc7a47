"""Feed snapshots kept in memory and written to the shared store behind the request (issue 8).

Why: every first page ranks a snapshot (~18 KB) that the next page's cursor points to. Writing it to the
store inside the request was a synchronous write transaction per request (a quarter of a request's time
on SQLite). Here `save` only puts the snapshot in this process's memory and in a queue; a background
writer thread stores the queue in batches (one transaction each, `Store.save_snapshots`) and trims the
table (`purge_snapshots`, `trim_snapshots`: bounded by `max_stored`, never on a request thread).

Cursors still page on every worker and replica:
- the worker that ranked a snapshot serves its next pages from memory (after checking the owner was not
  erased since: an erasure deletes the stored rows, and must end the in-memory copy too);
- another worker reads the store. A snapshot id carries the time it was issued (`new_id`), so a worker
  that finds no row for a snapshot issued less than `flush_wait_seconds` ago knows it may still be on its
  way: it polls the store (`wait` between polls) until the row appears or the window ends. Only a snapshot
  the issuing worker could not store within that window (store down or stalled for seconds) ends the feed
  with `CursorExpired` (the client restarts; it never sees a repeated item).

When the store is known to be unreachable (`store.outage`, see `api.store_outage`, or the writer's last
batch failed), `save` raises `SnapshotNotSaved`: the page is served without a next cursor, as before. The
queue is bounded (`max_pending`) for the same reason. `background=False` leaves writing to explicit
`flush()` calls: what deterministic tests use to decide exactly when a snapshot reaches the store.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from content_catalog.store.snapshots import PendingSnapshot
from recommender.cursor import SNAPSHOT_ID_BYTES, SnapshotNotSaved, owner_of

logger = logging.getLogger(__name__)

ERASURE_SKEW = timedelta(seconds=30)
"""An in-memory snapshot whose owner was erased up to this long before it was ranked is dropped too
(hosts' clocks differ; `recommender.forgetting.CLOCK_SKEW`)."""


class WriteBehindStore(Protocol):
    """The part of `content_catalog.store.Store` this cache uses."""

    def save_snapshots(self, snapshots: Sequence[PendingSnapshot]) -> list[str]: ...
    def load_snapshot(self, snapshot_id: str) -> dict[str, Any] | None: ...
    def purge_snapshots(self, before: Any = None) -> int: ...
    def trim_snapshots(self, keep: int) -> int: ...
    def erased_at(self, subject: str) -> datetime | None: ...


def issued_at(snapshot_id: str) -> float | None:
    """When a snapshot id minted by `WriteBehindSnapshotCache.new_id` was issued (unix seconds), else None."""
    _, sep, stamp = snapshot_id.rpartition("~")
    if not sep:
        return None
    try:
        return int(stamp, 36) / 1000.0
    except ValueError:
        return None


@dataclass
class _Entry:
    payload: dict[str, Any]
    owner: str | None
    created_at: datetime
    expires: float  # when the in-memory copy expires (the store's clock, unix seconds, as rows do)


class WriteBehindSnapshotCache:
    """Snapshots in this process's memory (bounded LRU) and, written behind, in the shared store."""

    def __init__(
        self,
        store: WriteBehindStore,
        ttl_seconds: float = 3_600.0,
        *,
        max_stored: int = 20_000,
        max_local: int = 1_000,  # this worker's newest snapshots (~20–50 KB of Python objects each)
        max_pending: int = 5_000,
        batch_size: int = 200,
        flush_wait_seconds: float = 2.0,
        poll_seconds: float = 0.02,
        purge_interval_seconds: float = 600.0,
        background: bool = True,
        clock: Callable[[], float] | None = None,  # unix seconds; default: the store's clock
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        if ttl_seconds <= 0 or flush_wait_seconds < 0 or poll_seconds <= 0 or purge_interval_seconds <= 0:
            raise ValueError("WriteBehindSnapshotCache: ttl, poll and purge intervals must be > 0")
        if min(max_stored, max_local, max_pending, batch_size) < 1:
            raise ValueError("WriteBehindSnapshotCache: max_stored, max_local, max_pending, batch_size must be >= 1")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.max_stored, self.max_local, self.max_pending = max_stored, max_local, max_pending
        self.batch_size = batch_size
        self.flush_wait_seconds, self.poll_seconds = flush_wait_seconds, poll_seconds
        self.purge_interval_seconds = purge_interval_seconds
        self.background = background
        self._clock = clock or _store_clock(store)
        self._monotonic, self._wait = monotonic, wait
        self._local: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: OrderedDict[str, PendingSnapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flushing = threading.Lock()  # one writer at a time (the thread or an explicit flush)
        self._thread: threading.Thread | None = None
        self._failing = False
        self._saves_since_trim = 0
        self._next_purge = monotonic() + purge_interval_seconds

    # ---------------------------------------------------------------------------------------- ids
    def new_id(self) -> str:
        """A fresh random snapshot id that also says when it was issued (`issued_at`)."""
        return f"{secrets.token_urlsafe(SNAPSHOT_ID_BYTES)}~{_base36(int(self._clock() * 1000))}"

    # ---------------------------------------------------------------------------------------- save
    def save(self, snapshot_id: str, payload: dict[str, Any]) -> None:
        """Keep the snapshot here and queue it for the store; SnapshotNotSaved when it cannot be stored."""
        if getattr(self.store, "outage", None) or self._failing:
            raise SnapshotNotSaved("the store is unreachable: snapshots cannot be shared with other workers")
        owner = owner_of(payload.get("context") or {})
        now = self._clock()
        created = datetime.fromtimestamp(now, UTC)
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise SnapshotNotSaved(f"{len(self._pending)} snapshots are waiting for the store")
            self._pending[snapshot_id] = PendingSnapshot(snapshot_id, payload, created, self.ttl_seconds, owner)
            self._remember(snapshot_id, _Entry(payload, owner, created, now + self.ttl_seconds))
            if self.background:
                self._ensure_writer()
                self._wake.notify()

    def _remember(self, snapshot_id: str, entry: _Entry) -> None:
        self._local[snapshot_id] = entry
        self._local.move_to_end(snapshot_id)
        while len(self._local) > self.max_local:
            self._local.popitem(last=False)

    # ---------------------------------------------------------------------------------------- load
    def load(self, snapshot_id: str) -> dict[str, Any] | None:
        """The payload from memory, else from the store (waiting for a snapshot still being written)."""
        with self._lock:
            entry = self._local.get(snapshot_id)
            if entry is not None and self._clock() >= entry.expires:
                del self._local[snapshot_id]
                entry = None
        if entry is not None:
            if self._erased_since(entry.owner, entry.created_at):
                self.discard(snapshot_id)
                return None
            return entry.payload
        stored = self.store.load_snapshot(snapshot_id)
        issued = issued_at(snapshot_id)
        if stored is None and issued is not None and self._clock() - issued < self.flush_wait_seconds:
            for _ in range(max(1, int(self.flush_wait_seconds / self.poll_seconds))):
                self._wait(self.poll_seconds)  # the issuing worker's writer is storing it right now
                stored = self.store.load_snapshot(snapshot_id)
                if stored is not None:
                    break
        return stored

    def _erased_since(self, owner: str | None, created: datetime) -> bool:
        lookup = getattr(self.store, "erased_at", None)
        if owner is None or not callable(lookup):
            return False
        at = lookup(owner)
        return at is not None and at >= created - ERASURE_SKEW

    def discard(self, snapshot_id: str) -> None:
        """Forget a snapshot here and never write it (its owner was erased while it was ranked)."""
        with self._lock:
            self._local.pop(snapshot_id, None)
            self._pending.pop(snapshot_id, None)

    # ---------------------------------------------------------------------------------------- write
    @property
    def pending(self) -> int:
        """Snapshots saved here and not yet in the store."""
        return len(self._pending)

    def flush(self) -> int:
        """Write everything queued now, in batches, on the caller's thread; returns how many were stored.
        Raises the store's error (the queue is kept for the next attempt)."""
        stored = 0
        with self._flushing:
            while True:
                with self._lock:
                    batch = list(self._pending.values())[: self.batch_size]
                if not batch:
                    break
                try:
                    stored += len(self.store.save_snapshots(batch))
                except Exception:
                    self._failing = True
                    raise
                self._failing = False
                with self._lock:
                    for snap in batch:
                        self._pending.pop(snap.id, None)
                    self._saves_since_trim += len(batch)
                    self._wake.notify_all()
            self._housekeep_if_due()
        return stored

    def wait_idle(self, timeout: float) -> bool:
        """Block until the background writer has stored everything queued (or `timeout` s); True if so."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._pending, timeout=timeout)

    def _housekeep_if_due(self) -> None:
        """Purge expired rows and trim the table to `max_stored` (on the writer's thread, not a request's)."""
        due = self._monotonic() >= self._next_purge or self._saves_since_trim >= max(1, self.max_stored // 10)
        if not due:
            return
        self._saves_since_trim = 0
        self._next_purge = self._monotonic() + self.purge_interval_seconds
        try:
            self.store.purge_snapshots()
            self.store.trim_snapshots(self.max_stored)
        except Exception:
            logger.warning("snapshot housekeeping failed", exc_info=True)

    def _ensure_writer(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="kepu-snapshot-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """The writer: store whatever is queued; back off after a failure; exit after a minute idle."""
        backoff = 0.0
        while True:
            with self._lock:
                if not self._pending:
                    self._wake.wait(timeout=60.0)
                    if not self._pending:
                        self._thread = None
                        return
            try:
                self.flush()
                backoff = 0.0
            except Exception:
                backoff = min(5.0, max(0.25, backoff * 2))
                logger.warning("writing feed snapshots failed; retrying in %.2f s", backoff, exc_info=True)
                time.sleep(backoff)


def _store_clock(store: Any) -> Callable[[], float]:
    """The store's clock as unix seconds (tests move it to expire snapshots), else the wall clock."""
    if callable(getattr(store, "clock", None)):
        return lambda: store.clock().timestamp()  # looked up per call: tests replace it
    return time.time


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out
