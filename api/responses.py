"""The default response class: JSON rendered by orjson, UTF-8 Chinese kept as-is.

FastAPI ≥0.130 deprecates its own `ORJSONResponse`; this is the same few lines without the warning.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """`application/json` rendered with orjson (numpy values and datetimes included)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
