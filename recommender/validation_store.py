"""A read-only view of a store as it was at a cutoff time, for validating served lists during training.

The service reads histories from it (events before the cutoff only, from one events frame held in
memory, so validation never issues a query per request) and everything else — catalog, users, rules —
from the real store. It has no `save_snapshot` and no `shared_secret`, so a service over it keeps cursor
snapshots in memory and never writes to the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from content_catalog.schema import Item, User
from content_catalog.store.records import HistoryEntry
from features.event_columns import EVENT_TYPES, EventColumns
from features.interactions import SESSION_PREFIX, user_key


class ServingStore(Protocol):
    """What the service reads from a store besides histories."""

    def catalog_version(self) -> str: ...
    def iter_items(self) -> Iterator[Item]: ...
    def get_user(self, user_id: str) -> User | None: ...
    def user_for_session(self, session_id: str) -> str | None: ...
    def list_rules(self, **kwargs: Any) -> list[Any]: ...


class HistoryBeforeCutoff:
    """`store` with histories limited to `events` (the events before the validation cutoff)."""

    def __init__(self, store: ServingStore, events: pd.DataFrame, users: dict[str, User] | None = None) -> None:
        self._store = store
        self._users = users
        self._history: dict[str, list[HistoryEntry]] = defaultdict(list)
        frame = events.sort_values("timestamp", ascending=False, kind="stable")
        for uid, sid, item_id, kind, ts in frame[["user_id", "session_id", "item_id", "type", "timestamp"]].itertuples(
            index=False
        ):
            key = user_key(uid if isinstance(uid, str) else None, sid if isinstance(sid, str) else None)
            self._history[key].append(HistoryEntry(str(item_id), str(kind), pd.Timestamp(ts).to_pydatetime()))

    @classmethod
    def from_columns(
        cls, store: ServingStore, events: EventColumns, users: dict[str, User] | None = None
    ) -> HistoryBeforeCutoff:
        """As the constructor, from `EventColumns` (give only the events of the users to be served)."""
        view = cls(store, pd.DataFrame(columns=["user_id", "session_id", "item_id", "type", "timestamp"]), users)
        order = np.argsort(-events.timestamp, kind="stable")
        stamps = pd.to_datetime(events.timestamp[order], utc=True).to_pydatetime()
        for k, i, t, ts in zip(
            events.key[order].tolist(), events.item[order].tolist(), events.type[order].tolist(), stamps, strict=True
        ):
            view._history[events.keys[k]].append(HistoryEntry(events.items[i], EVENT_TYPES[t], ts))
        return view

    def catalog_version(self) -> str:
        return self._store.catalog_version()

    def iter_items(self) -> Iterator[Item]:
        return self._store.iter_items()

    def get_user(self, user_id: str) -> User | None:
        if self._users is not None:
            return self._users.get(user_id)
        return self._store.get_user(user_id)

    def user_for_session(self, session_id: str) -> str | None:
        return self._store.user_for_session(session_id)

    def list_rules(self, **kwargs: Any) -> list[Any]:
        return self._store.list_rules(**kwargs)

    def user_history(
        self, user_id: str | None = None, session_id: str | None = None, limit: int = 200
    ) -> list[HistoryEntry]:
        key = user_id or f"{SESSION_PREFIX}{session_id}"
        return self._history.get(key, [])[:limit]


def cutoff_time(events: pd.DataFrame, fraction: float) -> datetime:
    """The timestamp splitting off the last `fraction` of events (time-ordered validation)."""
    return pd.Timestamp(events["timestamp"].quantile(1.0 - fraction)).to_pydatetime()
