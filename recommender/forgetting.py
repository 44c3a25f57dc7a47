"""Forgetting erased users on the live path, in every worker at once.

An erasure (`Store.erase_user`) first commits tombstones, then deletes the user's rows. Each worker's
model bundle, though, was trained earlier and still holds the user's vector, and a request that was
ranking while the erasure ran may save a feed snapshot after the rows were deleted. The store is
what all workers share, so each request asks it:

- before ranking: was this subject erased after the bundle's training data was read? Then the
  trained row is ignored and the request is a cold start (`model_key` returns None);
- after paging: was the subject erased since this request started? Then the snapshot just saved is
  deleted and no cursor is issued (`discard_if_erased`).

Both are one primary-key look-up on the `erasures` table, and the first only happens for subjects the
bundle knows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from recommender.registry import Bundle

ERASURE_MARGIN = timedelta(minutes=10)
"""A bundle whose data was read up to this long after an erasure began is not trusted for that subject
either: the erasure's delete transaction may still have been committing while training read events."""


CLOCK_SKEW = timedelta(seconds=30)
"""Hosts' clocks may differ: a request treats an erasure stamped up to this long before it started as
concurrent (it then keeps no snapshot; the cost is one feed without a next page for someone erased
seconds ago who came straight back)."""


class ErasureLookup(Protocol):
    """The part of the store this module needs."""

    def erased_at(self, subject: str) -> datetime | None: ...
    def delete_snapshot(self, snapshot_id: str) -> bool: ...


def bundle_data_time(bundle: Bundle) -> datetime | None:
    """When the bundle's training data was read (older bundles: when it was written)."""
    raw = bundle.manifest.get("data_as_of") or bundle.manifest.get("created_at")
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


class Forgetting:
    """Erasure checks for one service; a store without `erased_at` (tests, offline use) forgets nothing."""

    def __init__(self, store: Any) -> None:
        self._store: ErasureLookup | None = store if callable(getattr(store, "erased_at", None)) else None

    def erased_since(self, subject: str | None, since: datetime | None) -> bool:
        """Whether `subject` was erased at or after `since` (None = ever)."""
        if self._store is None or not subject:
            return False
        at = self._store.erased_at(subject)
        return at is not None and (since is None or at >= since)

    def model_key(self, subject: str | None, bundle: Bundle | None) -> str | None:
        """The key to look the subject up in the bundle with, or None when the bundle must not be used
        for them (erased after its data was read: their trained row is data they asked us to delete)."""
        if subject is None or bundle is None or bundle.user_map.get(subject) < 0:
            return subject
        data_time = bundle_data_time(bundle)
        since = None if data_time is None else data_time - ERASURE_MARGIN
        return None if self.erased_since(subject, since) else subject

    def model_key_given(self, subject: str | None, bundle: Bundle | None, erased_at: datetime | None) -> str | None:
        """`model_key` when the subject's erasure time was already read (with the request's other reads)."""
        if subject is None or bundle is None or bundle.user_map.get(subject) < 0 or erased_at is None:
            return subject
        data_time = bundle_data_time(bundle)
        return None if data_time is None or erased_at >= data_time - ERASURE_MARGIN else subject

    def discard_if_erased(self, subject: str | None, started: datetime, snapshot_id: str | None) -> bool:
        """Delete the snapshot a request saved when its subject was erased since `started`; True if so."""
        if snapshot_id is None or not self.erased_since(subject, started - CLOCK_SKEW):
            return False
        assert self._store is not None
        self._store.delete_snapshot(snapshot_id)
        return True
