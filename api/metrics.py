"""Prometheus metrics, one registry per app so several apps (tests, workers) never collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class ApiMetrics:
    """What operators watch: latency per route, recommendations served, events, model version, caches."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.request_latency = Histogram(
            "kepu_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.recommendations_served = Counter(
            "kepu_recommendations_served", "Recommendation lists served", ["channel", "kind"], registry=r
        )
        self.items_served = Counter(
            "kepu_recommended_items_served", "Items returned in recommendation lists", ["channel"], registry=r
        )
        self.events_ingested = Counter("kepu_events_ingested", "Events posted, by outcome", ["outcome"], registry=r)
        self.cache_requests = Counter(
            "kepu_cache_requests",
            "Cache lookups by cache and result (hit/miss)",
            ["cache", "result"],
            registry=r,
        )
        self.model_info = Info("kepu_active_model", "The model version serving requests", registry=r)
        self.model_loaded = Gauge("kepu_model_loaded", "1 when a model bundle is loaded and serving", registry=r)
        self.model_activations = Counter(
            "kepu_model_activations", "Model activations by outcome", ["outcome"], registry=r
        )

    def set_model(self, version: str | None) -> None:
        """Record the serving model version (empty when none is loaded)."""
        self.model_info.info({"version": version or ""})
        self.model_loaded.set(1 if version else 0)

    def cache(self, name: str, hit: bool) -> None:
        self.cache_requests.labels(cache=name, result="hit" if hit else "miss").inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
