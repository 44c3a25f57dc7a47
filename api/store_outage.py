"""Keep serving reads from memory while the store is unreachable; refuse writes with 503; recover by itself.

`OutageTolerantStore` wraps the Store the app and its recommendation service use. When a read on the
online path fails because the database cannot be reached (a connection error, not a bad query), it
answers from what this process already holds: the last catalog version (so the in-memory catalog view,
model and vector index keep serving), every rule and the experiments as last read, and no history for the
visitor (a cold-start list). Paging snapshots cannot be saved, so such a page has no `next_cursor`.
Everything else (writes, item lookups, cursor pages) raises, and the error handler answers 503
`store_unavailable`. `outage` names the failure until a store call succeeds again (then it is None), and
/readyz reports it as `degraded`. The engine's pool pre-ping reconnects once the database is back, so
recovery needs no restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from content_catalog.store import Store
from content_catalog.store.online import Requester
from content_catalog.store.records import Rule, RuleKind
from content_catalog.store.types import as_utc
from recommender.cursor import SnapshotNotSaved

STORE_DOWN_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError)
"""DB-API failures that mean "cannot reach / talk to the database" (SQLite's busy or locked too)."""

T = TypeVar("T")


class OutageTolerantStore:
    """A Store whose online-path reads fall back to this process's memory during a database outage."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._catalog_version: str | None = None
        self._all_rules: list[Rule] | None = None
        self._experiments: dict[bool, list[Any]] = {}
        self.outage: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)  # writes and other reads: no fallback (503 when the store is down)

    @property
    def wrapped(self) -> Store:
        return self._store

    def _guard(self, call: Callable[[], T], fallback: Callable[[], T]) -> T:
        try:
            value = call()
        except STORE_DOWN_ERRORS as exc:
            self.outage = f"unreachable: {type(exc).__name__}"
            return fallback()
        self.outage = None
        return value

    # ---- reads with a fallback ------------------------------------------------------------------------
    def catalog_version(self) -> str:
        def remember() -> str:
            version = self._store.catalog_version()
            self._catalog_version = version
            return version

        def last_known() -> str:
            if self._catalog_version is None:
                raise StoreUnavailable(self.outage or "unreachable")
            return self._catalog_version

        return self._guard(remember, last_known)

    def user_for_session(self, session_id: str) -> str | None:
        return self._guard(lambda: self._store.user_for_session(session_id), lambda: None)

    def get_user(self, user_id: str) -> Any:
        return self._guard(lambda: self._store.get_user(user_id), lambda: None)

    def user_history(self, user_id: str | None = None, session_id: str | None = None, limit: int = 200) -> list[Any]:
        return self._guard(lambda: self._store.user_history(user_id=user_id, session_id=session_id, limit=limit), list)

    def requester(
        self,
        user_id: str | None,
        session_id: str | None,
        history_limit: int = 200,
        *,
        catalog: bool = False,
        rules: bool = False,
    ) -> Any:
        """As `user_for_session` + `get_user` + `user_history` + `erased_at` above: the caller as given, no
        profile, no history, erased "just now" (a cold start); the catalog version and rules (when asked
        for) as last read, like `catalog_version` and `list_rules`."""

        def remember() -> Requester:
            found = self._store.requester(user_id, session_id, history_limit, catalog=catalog, rules=rules)
            if found.catalog_version is not None:
                self._catalog_version = found.catalog_version
            if found.rules is not None:
                with self._lock:
                    self._all_rules = found.rules
            return found

        def last_known() -> Requester:
            version, every_rule = None, None
            if catalog:
                version = self._catalog_version
                if version is None:
                    raise StoreUnavailable(self.outage or "unreachable")
            if rules:
                with self._lock:
                    every_rule = self._all_rules
                if every_rule is None:
                    raise StoreUnavailable(self.outage or "unreachable")
            return Requester(user_id, None, [], datetime.now(UTC), version, every_rule)

        return self._guard(remember, last_known)

    def list_rules(
        self,
        active_at: datetime | None = None,
        audience: str | None = None,
        channel: str | None = None,
        kind: Any = None,
    ) -> list[Rule]:
        """Reads every rule (an editorial table: small) and filters here exactly as `Store.list_rules` does in
        SQL, so during an outage any audience/channel is answered from the last complete read."""

        def remember() -> list[Rule]:
            rules = self._store.list_rules()
            with self._lock:
                self._all_rules = rules
            return rules

        def last_known() -> list[Rule]:
            with self._lock:
                rules = self._all_rules
            if rules is None:
                raise StoreUnavailable(self.outage or "unreachable")
            return rules

        wanted_kind = None if kind is None else RuleKind(getattr(kind, "value", kind))
        return [
            rule
            for rule in self._guard(remember, last_known)
            if (active_at is None or rule.is_active(as_utc(active_at)))
            and (audience is None or rule.audience in (None, audience))
            and (channel is None or rule.channel in (None, channel))
            and (wanted_kind is None or rule.kind == wanted_kind)
        ]

    def list_experiments(self, *, active_only: bool = False) -> list[Any]:
        def remember() -> list[Any]:
            experiments = self._store.list_experiments(active_only=active_only)
            self._experiments[active_only] = experiments
            return experiments

        return self._guard(remember, lambda: self._experiments.get(active_only, []))

    def active_model_version(self) -> Any:
        """None during an outage: workers keep the version they serve until they can check again."""
        return self._guard(self._store.active_model_version, lambda: None)

    def erased_at(self, subject: str) -> datetime | None:
        """During an outage nobody can be shown not to be erased: answer "just now", so the request is a
        cold start that uses nothing personal (the same list an unknown visitor gets while the store is down)."""
        return self._guard(lambda: self._store.erased_at(subject), lambda: datetime.now(UTC))

    def purge_snapshots(self, before: datetime | None = None) -> int:
        return self._guard(lambda: self._store.purge_snapshots(before), lambda: 0)

    def save_snapshot(
        self, snapshot_id: str, payload: dict[str, Any], ttl_seconds: float, *, owner: str | None = None
    ) -> None:
        try:
            self._store.save_snapshot(snapshot_id, payload, ttl_seconds, owner=owner)
        except STORE_DOWN_ERRORS as exc:
            self.outage = f"unreachable: {type(exc).__name__}"
            raise SnapshotNotSaved(str(exc)) from exc
        self.outage = None

    def count_items(self, *, include_deleted: bool = False) -> int:
        """No fallback (readiness uses it to probe the store), but it clears or sets `outage`."""
        try:
            value = self._store.count_items(include_deleted=include_deleted)
        except STORE_DOWN_ERRORS as exc:
            self.outage = f"unreachable: {type(exc).__name__}"
            raise
        self.outage = None
        return value


def outage_tolerant(store: Store | OutageTolerantStore) -> OutageTolerantStore:
    """`store` wrapped once (wrapping a wrapped store returns it unchanged)."""
    return store if isinstance(store, OutageTolerantStore) else OutageTolerantStore(store)


class StoreUnavailable(Exception):
    """The store is down and this process has nothing in memory to answer with (rendered as 503)."""
