"""Opaque, signed paging cursors plus the snapshots they point to.

A cursor is `base64url(json) + "." + base64url(hmac_sha256(json))[:16]`; the JSON holds the snapshot id
and the offset into the snapshot's ranking. A snapshot (the ranked item ids computed for page 1, plus
every id served before them) is written once and never changed: when a feed runs past its end, the
next ranking goes into a *new* snapshot. So reading a page is a pure read, a retried cursor returns
the same page, and any process that reaches the same `SnapshotCache` can serve any page:

- `MemorySnapshotCache` — a bounded LRU in this process (tests, single-process use);
- `StoreSnapshotCache` — the shared store (`feed_snapshots` table), for several workers or hosts, written
  inside the request;
- `recommender.write_behind.WriteBehindSnapshotCache` — the default with a store: memory first, written to
  the store behind the request by a background thread (no store write on the request path).

A tampered or malformed cursor raises `CursorError` (a ValueError → HTTP 400); a genuine cursor whose
snapshot is gone raises `CursorExpired` (also a CursorError: the client restarts without a cursor).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from features.interactions import SESSION_PREFIX
from recommender.reason_parts import ReasonParts

logger = logging.getLogger(__name__)

SNAPSHOT_ID_BYTES = 18
"""Random bytes per snapshot id (144 bits: ids cannot be guessed; 24 url-safe characters)."""


class CursorError(ValueError):
    """The cursor is malformed or its signature does not match."""


class CursorExpired(CursorError):
    """The cursor is genuine but its snapshot is gone (expired or evicted)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and verifies cursor payloads with a secret (random per process unless given: processes
    that must honour each other's cursors need the same secret)."""

    def __init__(self, secret: bytes | str | None = None) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        self._secret = raw or secrets.token_bytes(32)

    def _sign(self, body: bytes) -> str:
        return _b64(hmac.new(self._secret, body, hashlib.sha256).digest()[:16])

    def encode(self, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{self._sign(body)}"

    def decode(self, cursor: str) -> dict[str, Any]:
        if not isinstance(cursor, str) or cursor.count(".") != 1 or len(cursor) > 4096:
            raise CursorError("cursor: malformed (expected the opaque value returned as next_cursor)")
        body_text, signature = cursor.split(".")
        try:
            body = _unb64(body_text)
        except (binascii.Error, ValueError) as exc:
            raise CursorError("cursor: malformed base64") from exc
        if not hmac.compare_digest(signature, self._sign(body)):
            raise CursorError("cursor: signature mismatch (tampered or from another deployment)")
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            raise CursorError("cursor: malformed payload") from exc
        if not isinstance(payload, dict):
            raise CursorError("cursor: malformed payload")
        return payload


@dataclass(frozen=True)
class Snapshot:
    """One frozen ranking of a feed: `ranked` ids still to page through, every id `served` (or passed)
    before them, the request `context` it belongs to, and `details` (id → (score, reason)) at ranking time."""

    ranked: list[str]
    context: dict[str, Any]
    served: list[str] = field(default_factory=list)
    details: dict[str, tuple[float, str | tuple[Any, ...] | None]] = field(default_factory=dict)  # see ReasonParts

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready form (what a `SnapshotCache` stores)."""
        return {
            "ranked": list(self.ranked),
            "context": dict(self.context),
            "served": list(self.served),
            # ReasonParts are tuples: JSON writes them as lists (`_detail` reads them back)
            "details": {item_id: [score, reason] for item_id, (score, reason) in self.details.items()},
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Snapshot:
        """Inverse of `to_payload`; CursorError when the stored payload is not a snapshot."""
        try:
            details = {str(k): (float(score), _detail(reason)) for k, (score, reason) in payload["details"].items()}
            return cls(
                ranked=[str(i) for i in payload["ranked"]],
                context=dict(payload["context"]),
                served=[str(i) for i in payload["served"]],
                details=details,
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise CursorError(f"cursor: snapshot payload is unreadable ({exc!r})") from exc


def _detail(reason: Any) -> str | tuple[Any, ...] | None:
    """A stored reason: a sentence (or None), or the parts it is picked from when served (parsed then:
    a page reads k of a snapshot's 200 rows)."""
    if reason is None or isinstance(reason, str):
        return reason
    if not isinstance(reason, list | tuple) or len(reason) != len(ReasonParts._fields):
        raise ValueError(f"reason {reason!r}")
    return tuple(reason)  # `ReasonParts.parse` when its card is served


class SnapshotCache(Protocol):
    """Where snapshots live between pages. Snapshots are written once under a fresh id, never updated."""

    ttl_seconds: float

    def save(self, snapshot_id: str, payload: dict[str, Any]) -> None:
        """Keep `payload` under `snapshot_id` for at least `ttl_seconds` (best effort for bounded caches)."""
        ...

    def load(self, snapshot_id: str) -> dict[str, Any] | None:
        """The payload, or None when unknown, expired or evicted."""
        ...


class MemorySnapshotCache:
    """Bounded, thread-safe LRU of snapshots in this process, each kept `ttl_seconds` after it was saved."""

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_seconds: float = 3_600.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("MemorySnapshotCache: max_entries must be >= 1 and ttl_seconds > 0")
        self._monotonic = monotonic
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def save(self, snapshot_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._entries[snapshot_id] = (self._monotonic() + self.ttl_seconds, payload)
            self._entries.move_to_end(snapshot_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def load(self, snapshot_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(snapshot_id)
            if entry is None:
                return None
            if self._monotonic() >= entry[0]:
                del self._entries[snapshot_id]
                return None
            self._entries.move_to_end(snapshot_id)
            return entry[1]

    def __len__(self) -> int:
        return len(self._entries)


class SnapshotNotSaved(Exception):
    """A page's snapshot could not be stored (store outage): the page is served without a next cursor."""


class SnapshotStore(Protocol):
    """The part of `content_catalog.store.Store` that `StoreSnapshotCache` uses."""

    def save_snapshot(
        self, snapshot_id: str, payload: dict[str, Any], ttl_seconds: float, *, owner: str | None = None
    ) -> None: ...
    def load_snapshot(self, snapshot_id: str) -> dict[str, Any] | None: ...
    def purge_snapshots(self, before: Any = None) -> int: ...
    def trim_snapshots(self, keep: int) -> int: ...


def run_in_thread(job: Callable[[], None]) -> None:
    """Run `job` on a daemon thread (housekeeping that must not delay the request that triggered it)."""
    threading.Thread(target=job, name="kepu-snapshot-housekeeping", daemon=True).start()


class StoreSnapshotCache:
    """Snapshots in the shared store, so a cursor issued by one process is honoured by every other.

    Stored snapshots are bounded: every `purge_interval_seconds`, and after every `max_stored // 10` saves,
    a background job (`run_in_background`, default a daemon thread: never the request's own thread)
    deletes expired rows and then all but the `max_stored` newest. So the table holds at most about
    `max_stored` rows plus what the workers save before their next housekeeping (≤ 10 % each).
    `monotonic` is injectable so tests control when housekeeping is due.
    """

    def __init__(
        self,
        store: SnapshotStore,
        ttl_seconds: float = 3_600.0,
        purge_interval_seconds: float = 600.0,
        *,
        max_stored: int = 20_000,
        monotonic: Callable[[], float] = time.monotonic,
        run_in_background: Callable[[Callable[[], None]], None] = run_in_thread,
    ):
        if ttl_seconds <= 0 or purge_interval_seconds <= 0:
            raise ValueError("StoreSnapshotCache: ttl_seconds and purge_interval_seconds must be > 0")
        if max_stored < 1:
            raise ValueError(f"StoreSnapshotCache: max_stored must be >= 1, got {max_stored}")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.purge_interval_seconds = purge_interval_seconds
        self.max_stored = max_stored
        self._monotonic = monotonic
        self._run_in_background = run_in_background
        self._next_purge = monotonic() + purge_interval_seconds
        self._saves_since = 0
        self._busy = False
        self._lock = threading.Lock()

    def save(self, snapshot_id: str, payload: dict[str, Any]) -> None:
        owner = owner_of(payload.get("context") or {})
        self.store.save_snapshot(snapshot_id, payload, self.ttl_seconds, owner=owner)
        with self._lock:
            self._saves_since += 1
            due = self._monotonic() >= self._next_purge or self._saves_since >= max(1, self.max_stored // 10)
            start = due and not self._busy
            if start:
                self._busy = True
                self._saves_since = 0
                self._next_purge = self._monotonic() + self.purge_interval_seconds
        if start:
            self._run_in_background(self.housekeep)

    def housekeep(self) -> None:
        """Delete expired snapshots, then trim to `max_stored`; a store error is logged, never raised."""
        try:
            self.store.purge_snapshots()
            self.store.trim_snapshots(self.max_stored)
        except Exception:
            logger.warning("snapshot housekeeping failed", exc_info=True)
        finally:
            with self._lock:
                self._busy = False

    def load(self, snapshot_id: str) -> dict[str, Any] | None:
        return self.store.load_snapshot(snapshot_id)


def owner_of(context: dict[str, Any]) -> str | None:
    """The subject a feed was ranked for (its user id, else `session:<id>`), so erasing them deletes it."""
    if context.get("u"):
        return str(context["u"])
    if context.get("s"):
        return f"{SESSION_PREFIX}{context['s']}"
    return None


@dataclass(frozen=True)
class Position:
    """Where a cursor points: a snapshot and the offset of the next id to consider in its ranking."""

    snapshot_id: str
    offset: int


class Pager:
    """Issues and opens cursors: saves snapshots under fresh random ids, signs (id, offset) cursors."""

    def __init__(self, cache: SnapshotCache, codec: CursorCodec) -> None:
        self.cache = cache
        self.codec = codec

    def save(self, snapshot: Snapshot) -> str:
        """Store a new snapshot; returns its id."""
        mint = getattr(self.cache, "new_id", None)  # caches may encode more in the id (write-behind: issue time)
        snapshot_id = mint() if callable(mint) else secrets.token_urlsafe(SNAPSHOT_ID_BYTES)
        self.cache.save(snapshot_id, snapshot.to_payload())
        return snapshot_id

    def cursor(self, position: Position) -> str:
        return self.codec.encode({"s": position.snapshot_id, "o": position.offset})

    def open(self, cursor: str) -> tuple[Snapshot, Position]:
        """The snapshot and offset a cursor points to; CursorError if forged, CursorExpired if gone."""
        payload = self.codec.decode(cursor)
        snapshot_id, offset = payload.get("s"), payload.get("o")
        if not isinstance(snapshot_id, str) or not snapshot_id or not isinstance(offset, int) or offset < 0:
            raise CursorError("cursor: malformed payload")
        stored = self.cache.load(snapshot_id)
        if stored is None:
            raise CursorExpired("cursor: expired; request the first page again without a cursor")
        return Snapshot.from_payload(stored), Position(snapshot_id, offset)
