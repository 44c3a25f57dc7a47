"""API-key authentication with roles.

Access table (documented in docs/api.md):
- reader: recommendations, similar, search, GET items, audiences, preview — public when `public_reads`;
- ingest: PUT/DELETE items, items:batch, PUT users, POST events (events public when `public_events`);
- editor: GET users, item audience overrides, rules, GET experiments, GET models;
- admin: POST experiments, model activation.
With no keys configured, every call above `reader` is refused (403) so a fresh install is never open.
Anonymous (public) calls are rate-limited per client (`api.rate_limit`); keyed calls are not.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from api.errors import ApiError
from api.rate_limit import throttle_anonymous
from api.roles import Role
from api.settings import ApiSettings


@dataclass(frozen=True)
class Caller:
    """Who is calling: the role granted and an actor name for the audit log (never the key itself)."""

    role: Role | None
    actor: str


def presented_key(request: Request) -> str | None:
    """The key from `X-API-Key`, or from `Authorization: Bearer <key>`."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def role_for_key(settings: ApiSettings, key: str) -> Role | None:
    """Constant-time lookup so response timing does not leak which prefix of a key is right."""
    found: Role | None = None
    for known, role in settings.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            found = role
    return found


def actor_name(key: str, role: Role) -> str:
    """A non-secret label for the audit log: role plus the first 4 characters of the key."""
    return f"{role.label}:{key[:4]}…"


def authorize(settings: ApiSettings, request: Request, needed: Role, *, public: bool = False) -> Caller:
    """Grant or refuse `needed`; raises ApiError 401 (no/unknown key) or 403 (wrong role / no keys)."""
    key = presented_key(request)
    if key is None:
        if public:
            return Caller(role=None, actor="anonymous")
        if not settings.api_keys:
            raise ApiError(
                403,
                f"no API keys configured: {needed.label} calls are refused (set KEPU_API_KEYS or KEPU_API_KEYS_FILE)",
                code="no_keys_configured",
            )
        raise ApiError(
            401,
            f"an API key with role {needed.label} or higher is required (header X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = role_for_key(settings, key)
    if role is None:
        raise ApiError(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    if role < needed:
        raise ApiError(403, f"this API key has role {role.label}; {needed.label} or higher is required")
    return Caller(role=role, actor=actor_name(key, role))


def require(needed: Role) -> Callable[[Request], Caller]:
    """FastAPI dependency: `caller: Caller = Depends(require(Role.EDITOR))`."""

    def dependency(request: Request) -> Caller:
        settings: ApiSettings = request.app.state.settings
        caller = authorize(settings, request, needed, public=needed == Role.READER and settings.public_reads)
        if caller.role is None:
            throttle_anonymous(request, "reads")
        return caller

    return dependency


def require_event_writer() -> Callable[[Request], Caller]:
    """Like `require(Role.INGEST)` but open when `public_events` is set (for the museum widget)."""

    def dependency(request: Request) -> Caller:
        settings: ApiSettings = request.app.state.settings
        caller = authorize(settings, request, Role.INGEST, public=settings.public_events)
        if caller.role is None:
            throttle_anonymous(request, "events")
        return caller

    return dependency
