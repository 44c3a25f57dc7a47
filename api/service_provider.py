"""Holds the live RecommendationService, keeps its vector index in step with item writes, swaps model
versions atomically, and serves experiment variants.

One service object lives for the whole process: activating a version calls `service.swap_bundle`,
an atomic pointer change, so cursor snapshots survive the swap (page 2 after a new model still never
repeats page 1) and a request already ranking keeps the bundle it started with. With several worker
processes, the one that answers the activation swaps at once and the others notice the store's new
active version within `model_sync_seconds` and swap too. Experiment variants
that change online knobs or the model version get their own service sharing the same encoder and
vector index (so a new item is searchable in every variant at once).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from api.service_factory import build_service
from api.settings import ApiSettings
from api.store_outage import outage_tolerant
from content_catalog.catalog_index import CatalogIndex, save_catalog_index
from content_catalog.schema import Item
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender.registry import Bundle, BundleError, load_active, load_bundle
from recommender.service import RecommendationService


class ServiceProvider(Protocol):
    """What the API needs from whoever owns the live service (tests may pass their own)."""

    def current(self) -> RecommendationService | None: ...
    def warm_up(self) -> None: ...
    def is_warm(self) -> bool:
        """The first request will be fast (catalog state built): /readyz waits for it."""
        ...

    def sync(self, *, force: bool = False) -> None:
        """Follow the store's active model version now (force) or when the sync interval is due."""
        ...

    def for_variant(self, params: Mapping[str, Any]) -> RecommendationService | None: ...
    def version(self) -> str | None: ...
    def activate(self, version: str, actor: str = "admin") -> str:
        """Serve `version`; the store's activation is audited once, under `actor`."""
        ...

    def items_changed(self, items: Sequence[Item]) -> None: ...
    def items_removed(self, item_ids: Sequence[str]) -> None: ...
    def close(self) -> None: ...


class ActivationError(Exception):
    """A model version could not be activated; `status` is the HTTP status to report (404/409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


logger = logging.getLogger(__name__)
ServiceBuilder = Callable[[Store, Bundle | None, ApiSettings], RecommendationService]
VARIANT_SETTINGS = ("mmr_lambda", "freshness_weight", "shrinkage")
INDEX_SAVE_SECONDS = 600.0
"""How often the background loop saves a vector index that items written since moved on (a restart then
encodes at most this long's writes before it is ready)."""


def verified_bundle(store: Store, version: str) -> Bundle:
    """Load a registered version and check it against the checksum recorded at registration."""
    record = {v.version: v for v in store.list_model_versions()}.get(version)
    if record is None:
        raise ActivationError(404, f"model version {version!r} is not registered")
    try:
        bundle = load_bundle(record.path)
        if record.checksum and record.checksum != bundle.checksum:
            raise BundleError(f"{record.path}: bundle checksum differs from the registered one")
    except (BundleError, OSError, ValueError) as exc:
        raise ActivationError(409, f"model version {version!r} cannot be activated: {exc}") from exc
    mismatch = catalog_mismatch(store, bundle)
    if mismatch is not None:
        raise ActivationError(409, f"model version {version!r} cannot be activated: {mismatch}")
    return bundle


MIN_CATALOG_OVERLAP = 0.5
"""Share of a bundle's items that must still be in the catalog: below it the bundle was trained on another
catalog (or a wiped one) and would rank every item as an unseen, cold one."""


def catalog_mismatch(store: Store, bundle: Bundle) -> str | None:
    """Why `bundle` does not fit the store's live catalog, or None when it does."""
    trained_on = bundle.item_map.to_list()
    if not trained_on:
        return None
    wanted = set(trained_on)
    live = sum(1 for item in store.iter_items() if item.id in wanted)
    if live >= MIN_CATALOG_OVERLAP * len(trained_on):
        return None
    return (
        f"it was trained on another catalog: only {live} of its {len(trained_on)} items are in this store's "
        f"catalog (at least {MIN_CATALOG_OVERLAP:.0%} needed); train a version on this catalog"
    )


class BundleServiceProvider:
    """The production provider.

    store: catalog/events store. settings: API settings (encoder spec, seed, cursor secret …).
    builder: makes the service for (store, bundle or None) — default `api.service_factory.build_service`.
    load_active_on_start: serve the store's active version at once (else content/rules only until
    a version is activated).
    """

    def __init__(
        self,
        store: Store,
        settings: ApiSettings,
        builder: ServiceBuilder | None = None,
        *,
        load_active_on_start: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store: Store = outage_tolerant(store)  # type: ignore[assignment]  # serves from memory in an outage
        self.settings = settings
        self._builder = builder or build_service
        self._lock = threading.Lock()
        self._service: RecommendationService | None = None
        self._variants: dict[tuple, RecommendationService] = {}
        self._bundles: dict[str, Bundle] = {}
        self._load_active = load_active_on_start
        self.load_error: str | None = None
        self._sync_lock = threading.Lock()
        self._monotonic = monotonic
        self._next_sync = monotonic() + settings.model_sync_seconds
        self._unloadable: str | None = None  # an active version that failed to load: not retried
        self._stop = threading.Event()
        self._background: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._next_save = monotonic() + INDEX_SAVE_SECONDS

    def _ensure(self) -> RecommendationService:
        with self._lock:
            if self._service is None:
                bundle = self._startup_bundle() if self._load_active else None
                self._service = self._builder(self.store, bundle, self.settings)
            return self._service

    def _startup_bundle(self) -> Bundle | None:
        """The active bundle; when it is corrupt, the newest registered version that verifies (said in
        `load_error`, so /readyz and the log tell operators), else None (content/rules only)."""
        try:
            return load_active(self.store)
        except (BundleError, OSError, ValueError) as exc:
            active = self.store.active_model_version()
            failed = active.version if active is not None else "?"
            self._unloadable = failed
            for record in self.store.list_model_versions():  # newest first
                if record.version == failed:
                    continue
                try:
                    bundle = verified_bundle(self.store, record.version)
                except ActivationError:
                    continue
                self.load_error = (
                    f"active model {failed!r} failed to load ({exc}); serving the newest valid version "
                    f"{bundle.version!r} instead"
                )
                logger.warning("%s", self.load_error)
                return bundle
            self.load_error = f"active model failed to load: {exc}"
            logger.error("%s; no other registered version loads either: serving content/rules only", self.load_error)
            return None

    def current(self) -> RecommendationService:
        service = self._service or self._ensure()
        self.sync()
        return self._service or service

    def sync(self, *, force: bool = False) -> None:
        """Follow the store's active version: when `force`d (/readyz, /metrics, the background check) or
        when `model_sync_seconds` have passed since the last check (request path)."""
        if not self._load_active or self.settings.model_sync_seconds <= 0 or self._service is None:
            return
        if force or self._monotonic() >= self._next_sync:
            self._follow_store(wait=force)

    def start_background_sync(self, wait: Callable[[float], bool] | None = None) -> None:
        """Check the store every `model_sync_seconds` on a daemon thread, so an idle worker's /readyz and
        /metrics never lag behind an activation made through another worker. `wait(seconds)` returns
        True to stop (default: the provider's stop event; tests pass their own to control time)."""
        if self._background is not None or not self._load_active or self.settings.model_sync_seconds <= 0:
            return
        pause = wait or self._stop.wait

        def loop() -> None:
            while not pause(self.settings.model_sync_seconds):
                try:
                    self.sync(force=True)
                    self._refresh_catalogs()
                    if self._monotonic() >= self._next_save and self._service is not None:
                        self._next_save = self._monotonic() + INDEX_SAVE_SECONDS
                        self._save_index_behind(self._service)
                except Exception:  # the store may be briefly unreachable: try again next time
                    logger.warning("background model sync failed", exc_info=True)

        self._background = threading.Thread(target=loop, name="kepu-model-sync", daemon=True)
        self._background.start()

    def _follow_store(self, wait: bool = False) -> None:
        """Serve the store's active version when another process activated it (one thread checks; the
        others keep serving meanwhile, unless they `wait` for that check, as /readyz does)."""
        if not self._sync_lock.acquire(blocking=wait):
            return
        try:
            self._next_sync = self._monotonic() + self.settings.model_sync_seconds
            record = self.store.active_model_version()
            if record is None or record.version in (self.version(), self._unloadable):
                return
            try:
                bundle = verified_bundle(self.store, record.version)
            except ActivationError as exc:
                self._unloadable = record.version
                self.load_error = f"active model failed to load: {exc.message}"
                return
            with self._lock:  # unless an activation in this process moved on meanwhile
                latest = self.store.active_model_version()
                if latest is not None and latest.version == bundle.version:
                    self._swap(bundle)
        finally:
            self._sync_lock.release()

    def _swap(self, bundle: Bundle) -> None:
        """Serve `bundle` in the main service and every variant that follows it (caller holds the lock)."""
        if self._service is not None:
            self._service.swap_bundle(bundle)
        self.load_error = None
        for (_, pinned_version), variant in self._variants.items():
            if pinned_version is None:
                variant.swap_bundle(bundle)

    def warm_up(self) -> None:
        """Build the service and its catalog state now (app start-up), so /readyz says ready only when the
        first request will be fast; save an index synced in memory in the background; start following
        the store in the background.

        The cyclic garbage collector is paused meanwhile: warm-up allocates a few million long-lived objects
        (100k items and their arrays) and leaves almost no cycles, so the collections it would trigger only
        rescan them (~20 % of reading the catalog); one collection at the end ages them out of the young
        generations before the server says ready."""
        paused = gc.isenabled()
        gc.disable()
        try:
            service = self._ensure()
            service.warm_up()
        finally:
            if paused:
                gc.enable()
                gc.collect()  # now, before /readyz: else the first request pays for scanning all of them
        self._save_index_behind(service)
        self.start_background_sync()

    def is_warm(self) -> bool:
        """True once the service's catalog view, item matrix and index are built (what /readyz waits for)."""
        service = self._service
        return service is not None and service.is_warm

    def _save_index_behind(self, service: RecommendationService) -> None:
        """Persist the vector index when start-up brought it past its saved catalog version (items written
        through the API since): on a daemon thread, so the server listens at once. A crash before it
        finishes loses nothing: the next start encodes those items again."""
        index = service.index
        if not isinstance(index, VectorIndex) or len(index) == 0:
            return
        if self._saver is not None and self._saver.is_alive():
            return
        version = self.store.catalog_version()
        if index.catalog_version == version:
            return
        catalog = CatalogIndex(service.encoder, index, version, index.digests)

        def save() -> None:
            try:
                save_catalog_index(self.store, self.settings, catalog, version)
            except Exception:  # the next start retries; serving is unaffected
                logger.warning("background save of the catalog index failed", exc_info=True)

        self._saver = threading.Thread(target=save, name="kepu-index-save", daemon=True)
        self._saver.start()

    def _refresh_catalogs(self) -> None:
        """Apply catalog changes other workers wrote (background loop: requests then find them applied)."""
        with self._lock:
            services = [s for s in (self._service, *self._variants.values()) if s is not None]
        for service in services:
            service.refresh_catalog()

    def version(self) -> str | None:
        service = self._service
        bundle = service.bundle if service is not None else None
        return bundle.version if bundle is not None else None

    def for_variant(self, params: Mapping[str, Any]) -> RecommendationService:
        """The service for an experiment variant (the main one when the variant changes nothing)."""
        base = self.current()
        knobs = {k: params[k] for k in VARIANT_SETTINGS if params.get(k) is not None}
        version = params.get("model_version")
        if not knobs and (version is None or version == self.version()):
            return base
        key = (tuple(sorted(knobs.items())), version)
        with self._lock:
            service = self._variants.get(key)
            if service is None:
                bundle = base.bundle
                if version is not None:
                    bundle = self._bundles.get(version) or verified_bundle(self.store, version)
                    self._bundles[version] = bundle
                service = RecommendationService(
                    self.store,
                    bundle,
                    base.encoder,
                    base.index,
                    settings=dataclasses.replace(base.settings, **knobs),
                )
                self._variants[key] = service
            return service

    def activate(self, version: str, actor: str = "admin") -> str:
        """Verify, mark active in the store (audited as `actor`), then swap. A bad bundle never becomes
        active (404/409)."""
        bundle = verified_bundle(self.store, version)
        self.current()
        with self._lock:
            self.store.activate_model_version(version, actor=actor)
            self._swap(bundle)
            self._unloadable = None
        return bundle.version

    def items_changed(self, items: Sequence[Item]) -> None:
        """Encode written items and put them in the live index: recommendable via content at once.

        A service built over an empty catalog has no fitted encoder yet: it is rebuilt instead.
        """
        if not items:
            return
        service = self.current()
        if len(service.index) == 0:
            with self._lock:
                self._service = self._builder(self.store, service.bundle, self.settings)
                self._variants.clear()
            return
        self._apply_changes(service)

    def items_removed(self, item_ids: Sequence[str]) -> None:
        if item_ids:
            self._apply_changes(self.current())

    def _apply_changes(self, service: RecommendationService) -> None:
        """Apply a write made through this worker on the writer's thread (only the written items are
        encoded and re-rowed), so no reader pays for it; variants share the index and its digests."""
        with self._lock:
            variants = list(self._variants.values())
        for each in (service, *variants):
            each.apply_item_changes()

    def close(self) -> None:
        self._stop.set()
        if self._background is not None:
            self._background.join(timeout=5)
            self._background = None
        if self._saver is not None:
            self._saver.join(timeout=30)
            self._saver = None
        with self._lock:
            self._service = None
            self._variants.clear()
            self._bundles.clear()
