"""One JSON error shape for every failure: `{"error": {"code", "message", "field"}}`.

Clients (widget, mini-program, editor page) parse a single shape, and `field` tells them which
input to fix — a dotted location such as `query.k` or `body.events.3.item_id`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import OrjsonResponse
from api.store_outage import StoreUnavailable

_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API raises on purpose; rendered in the shared error shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code or _STATUS_CODES.get(status_code, "error")
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The error payload; `extra` adds structured details (e.g. every rejected row of a batch)."""
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def dotted_location(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "events", 3, "item_id")` -> `"body.events.3.item_id"` (pydantic's own `loc`)."""
    return ".".join(str(part) for part in loc)


def validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    """Every validation problem as `{field, message}` so a client can fix all of them at once."""
    details = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "extra_forbidden":
            message = "unknown field (not allowed)"
        details.append({"field": dotted_location(loc), "message": message})
    return details


def install_error_handlers(app: FastAPI) -> None:
    """Route validation errors, HTTP errors, our errors and crashes through the shared shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> OrjsonResponse:
        return OrjsonResponse(
            error_body(exc.code, exc.message, exc.field), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        details = validation_details(exc)
        first = details[0] if details else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return OrjsonResponse(error_body("validation_error", message, first["field"], details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        field = "body" if exc.status_code == 413 else None
        return OrjsonResponse(
            error_body(code, message, field),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    async def _store_down(_: Request, exc: Exception) -> OrjsonResponse:
        message = (
            f"the store is unavailable ({type(exc).__name__}): writes are refused until it is back and "
            "recommendations are served from memory; retry later"
        )
        return OrjsonResponse(error_body("store_unavailable", message), status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> OrjsonResponse:
        return OrjsonResponse(error_body("internal_error", f"internal error: {type(exc).__name__}"), status_code=500)
