"""The OpenAPI document states the real error answers: every operation may answer 4XX with the one
error shape (`ErrorOut`) instead of FastAPI's default 422 `HTTPValidationError`, which Kepu never sends.

Clients generated from /openapi.json and the schemathesis fuzz test (tests/test_api_fuzz.py) rely on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import ErrorOut

ERROR_REF = "#/components/schemas/ErrorOut"
_UNUSED_DEFAULTS = ("HTTPValidationError", "ValidationError")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the generated document in place: 4XX (and 503 where the route has none) use ErrorOut."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorOut"] = error_schema
    for name in _UNUSED_DEFAULTS:
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = _error_response(
                "Refused: validation (422), auth (401/403), not found (404), conflict (409), too large (413), "
                "rate limited (429, with Retry-After)"
            )
            responses.setdefault("503", _error_response("The store or the model is unavailable; retry later"))
    return schema


def install_error_documentation(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with the error answers documented (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
