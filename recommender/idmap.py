"""External ↔ internal id mapping for models and the service (defined in `features.idmap`, re-exported here
so recommender code and callers have one import path)."""

from features.idmap import IdMap

__all__ = ["IdMap"]
