"""FastAPI dependencies: the settings, store, metrics and live recommendation service of this app.

They read `request.app.state`, which `create_app` fills, so tests inject a tmp store or a
pre-built service without monkey-patching modules.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth import Caller, require, require_event_writer
from api.errors import ApiError
from api.metrics import ApiMetrics
from api.roles import Role
from api.service_provider import ServiceProvider
from api.settings import ApiSettings
from content_catalog.pseudonyms import ClientIds
from content_catalog.store import Store


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def get_client_ids(request: Request) -> ClientIds:
    """How client user/session ids map to stored ids (keyed hash when KEPU_ID_PEPPER is set)."""
    return request.app.state.client_ids


def get_provider(request: Request) -> ServiceProvider:
    return request.app.state.services


def get_service(request: Request) -> Any:
    """The service serving *now*. A request keeps this object even if a model swap happens meanwhile."""
    service = request.app.state.services.current()
    if service is None:
        raise ApiError(
            503,
            "no model is loaded yet: train one and activate it (POST /v1/models/{version}:activate)",
            code="model_not_loaded",
        )
    return service


def request_id(request: Request) -> str:
    """The id the request-context middleware gave this request (echoed in X-Request-ID)."""
    return getattr(request.state, "request_id", "") or ""


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ClientIdsDep = Annotated[ClientIds, Depends(get_client_ids)]
ProviderDep = Annotated[ServiceProvider, Depends(get_provider)]
ServiceDep = Annotated[Any, Depends(get_service)]
RequestIdDep = Annotated[str, Depends(request_id)]

Reader = Annotated[Caller, Depends(require(Role.READER))]
Ingest = Annotated[Caller, Depends(require(Role.INGEST))]
Editor = Annotated[Caller, Depends(require(Role.EDITOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
EventWriter = Annotated[Caller, Depends(require_event_writer())]
